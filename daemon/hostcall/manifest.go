package hostcall

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ManifestSection is the custom section in which a program declares the
// hosts it reaches, as upstream's connectors do.
const ManifestSection = "outlayer.manifest"

// MaxManifestBytes bounds the manifest's JSON.
const MaxManifestBytes = 64 << 10

// Manifest reads the program's declared hosts from its outlayer.manifest
// custom section: {"network": [...]} or {"capabilities": {"network": [...]}}
// (the latter wins). declared is false when the module has no manifest:
// it may then reach any public host. A manifest that is too large or does
// not parse declares no host at all (and err says why): a program that
// meant to restrict itself must not end up unrestricted.
func Manifest(wasm []byte) (hosts []string, declared bool, err error) {
	data, found, err := customSection(wasm, ManifestSection)
	if err != nil || !found {
		return nil, false, err
	}
	if len(data) > MaxManifestBytes {
		return []string{}, true, fmt.Errorf("the %s section is %d bytes, above the cap of %d; no host is allowed", ManifestSection, len(data), MaxManifestBytes)
	}
	var m struct {
		Network      []string `json:"network"`
		Capabilities struct {
			Network []string `json:"network"`
		} `json:"capabilities"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return []string{}, true, fmt.Errorf("the %s section is not valid JSON (%v); no host is allowed", ManifestSection, err)
	}
	hosts = m.Network
	if m.Capabilities.Network != nil {
		hosts = m.Capabilities.Network
	}
	if hosts == nil {
		hosts = []string{}
	}
	return hosts, true, nil
}

// customSection finds a custom section by name in a WebAssembly module.
func customSection(wasm []byte, name string) ([]byte, bool, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, false, errors.New("not a WebAssembly module")
	}
	b := wasm[8:]
	for len(b) > 0 {
		id := b[0]
		size, n := uleb(b[1:])
		if n == 0 || uint64(len(b)-1-n) < size {
			return nil, false, errors.New("a section runs past the end of the module")
		}
		body := b[1+n : 1+n+int(size)]
		b = b[1+n+int(size):]
		if id != 0 {
			continue
		}
		l, m := uleb(body)
		if m == 0 || uint64(len(body)-m) < l {
			return nil, false, errors.New("a custom section's name runs past its end")
		}
		if string(body[m:m+int(l)]) == name {
			return body[m+int(l):], true, nil
		}
	}
	return nil, false, nil
}

// uleb decodes an unsigned LEB128 of at most 5 bytes; n is 0 when invalid.
func uleb(b []byte) (v uint64, n int) {
	for i := 0; i < len(b) && i < 5; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

// NarrowHosts combines the program's hosts with the node's (nil: no
// restriction from that side): the hosts both allow.
func NarrowHosts(program, node []string) []string {
	switch {
	case node == nil:
		return program
	case program == nil:
		return node
	}
	out := []string{}
	for _, p := range program {
		for _, n := range node {
			if p == n {
				out = append(out, p)
				break
			}
		}
	}
	return out
}
