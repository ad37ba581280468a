package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/outlayer/outlayer/store"
)

// CommandVersionCompact marks an envelope whose body is the compact binary
// encoding below instead of JSON. Only the hot command has one: Enqueue is
// most of the log by volume, and every replica decodes every request in it
// on the FSM goroutine, where JSON's reflection was the largest cost this
// package controls. Entries of version 1 (JSON) are still decoded, for
// every type.
const CommandVersionCompact byte = 2

// CommandVersionCompactExt is a compact body followed by its extensions:
// a count, then each extension's tag byte and body, tags ascending. Only
// entries that carry an extension are written so; the others stay version
// 2, byte for byte what older binaries wrote (and read).
const CommandVersionCompactExt byte = 3

// Extensions of the compact Enqueue body.
const (
	// extRequiredSignatures: per request, required_signatures (uvarint).
	extRequiredSignatures byte = 1
	// extProject: per request, signer, project_id, project_uuid (strings).
	extProject byte = 2
)

// The compact Enqueue body, all integers unsigned varints, every string a
// varint length and its bytes:
//
//	count, then per request:
//	  id, data_id, sender, payer,
//	  code flags (1 git, 2 wasm), [git repo, commit, build_target], [wasm url, hash, build_target],
//	  max_instructions, max_memory_mb, max_execution_seconds,
//	  input, secrets flag (0|1) [profile, account_id], response_format,
//	  params flags (1 compile_only, 2 force_rebuild, 4 store_on_fastfs),
//	  deposit, requested_at_ns, block_height, block_hash, tx_hash, receipt_id
//	cursor flag (0|1) [height, hash]
//	version 3 only: extension count, then per extension its tag and body
//	  (1: required_signatures per request; 2: signer, project_id,
//	  project_uuid per request)
//
// Field order is the format: never reorder, only append a new version. A
// test fills every field of store.Request by reflection and fails if one is
// not carried, so a field added to the store cannot be dropped silently.

const (
	codeGit  = 1
	codeWasm = 2

	paramCompileOnly  = 1
	paramForceRebuild = 2
	paramFastFS       = 4
)

type compactWriter struct{ b []byte }

func (w *compactWriter) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *compactWriter) byte(v byte)   { w.b = append(w.b, v) }
func (w *compactWriter) str(s string)  { w.uint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *compactWriter) flag(set bool) { w.byte(boolByte(set)) }
func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendEnqueueCompact(out []byte, e *Enqueue) []byte {
	w := compactWriter{b: slices.Grow(out, 64+len(e.Requests)*256)}
	w.uint(uint64(len(e.Requests)))
	for i := range e.Requests {
		r := &e.Requests[i]
		w.uint(r.ID)
		w.str(r.DataID)
		w.str(r.Sender)
		w.str(r.Payer)
		var code byte
		if r.Code.Git != nil {
			code |= codeGit
		}
		if r.Code.Wasm != nil {
			code |= codeWasm
		}
		w.byte(code)
		if g := r.Code.Git; g != nil {
			w.str(g.Repo)
			w.str(g.Commit)
			w.str(g.BuildTarget)
		}
		if m := r.Code.Wasm; m != nil {
			w.str(m.URL)
			w.str(m.Hash)
			w.str(m.BuildTarget)
		}
		w.uint(r.Limits.MaxInstructions)
		w.uint(uint64(r.Limits.MaxMemoryMB))
		w.uint(r.Limits.MaxExecutionSeconds)
		w.str(r.Input)
		w.flag(r.Secrets != nil)
		if s := r.Secrets; s != nil {
			w.str(s.Profile)
			w.str(s.AccountID)
		}
		w.str(r.ResponseFormat)
		var params byte
		if r.Params.CompileOnly {
			params |= paramCompileOnly
		}
		if r.Params.ForceRebuild {
			params |= paramForceRebuild
		}
		if r.Params.StoreOnFastFS {
			params |= paramFastFS
		}
		w.byte(params)
		w.str(r.Deposit)
		w.uint(r.RequestedAtNs)
		w.uint(r.BlockHeight)
		w.str(r.BlockHash)
		w.str(r.TxHash)
		w.str(r.ReceiptID)
	}
	w.flag(e.Cursor != nil)
	if c := e.Cursor; c != nil {
		w.uint(c.Height)
		w.str(c.Hash)
	}
	sigs := slices.ContainsFunc(e.Requests, func(r store.Request) bool { return r.RequiredSignatures != 0 })
	project := slices.ContainsFunc(e.Requests, func(r store.Request) bool {
		return r.Signer != "" || r.ProjectID != "" || r.ProjectUUID != ""
	})
	if sigs || project {
		w.b[0] = CommandVersionCompactExt
		w.uint(uint64(boolByte(sigs) + boolByte(project)))
	}
	if sigs {
		w.byte(extRequiredSignatures)
		for i := range e.Requests {
			w.uint(e.Requests[i].RequiredSignatures)
		}
	}
	if project {
		w.byte(extProject)
		for i := range e.Requests {
			w.str(e.Requests[i].Signer)
			w.str(e.Requests[i].ProjectID)
			w.str(e.Requests[i].ProjectUUID)
		}
	}
	return w.b
}

var errTruncated = errors.New("truncated")

// compactReader reads the body; the first error sticks and every later
// read returns zero values, so decoding code stays straight-line. The body
// is copied into one string up front and every field is a substring of it:
// one allocation for all the strings of a batch instead of one each.
type compactReader struct {
	s   string
	err error
}

func (r *compactReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *compactReader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < len(r.s) && i < binary.MaxVarintLen64; i++ {
		c := r.s[i]
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break // overflows 64 bits
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			r.s = r.s[i+1:]
			return v
		}
	}
	r.fail(errTruncated)
	return 0
}

func (r *compactReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.s) == 0 {
		r.fail(errTruncated)
		return 0
	}
	v := r.s[0]
	r.s = r.s[1:]
	return v
}

func (r *compactReader) str() string {
	n := r.uint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.s)) {
		r.fail(errTruncated)
		return ""
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v
}

func (r *compactReader) flag() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(errors.New("a presence flag is neither 0 nor 1"))
	return false
}

func decodeEnqueueCompact(version byte, b []byte) (*Enqueue, error) {
	r := compactReader{s: string(b)}
	count := r.uint()
	// Each request takes well over one byte: a count past the body's
	// length is a lie, and must not size an allocation.
	if r.err == nil && count > uint64(len(r.s)) {
		return nil, fmt.Errorf("claims %d requests in %d bytes", count, len(r.s))
	}
	e := &Enqueue{}
	if count > 0 {
		e.Requests = make([]store.Request, count)
	}
	for i := range e.Requests {
		q := &e.Requests[i]
		q.ID = r.uint()
		q.DataID = r.str()
		q.Sender = r.str()
		q.Payer = r.str()
		code := r.byte()
		if code&^(codeGit|codeWasm) != 0 {
			r.fail(fmt.Errorf("request %d: unknown code source flags %#x", i, code))
		}
		if code&codeGit != 0 {
			q.Code.Git = &store.GitSource{Repo: r.str(), Commit: r.str(), BuildTarget: r.str()}
		}
		if code&codeWasm != 0 {
			q.Code.Wasm = &store.WasmSource{URL: r.str(), Hash: r.str(), BuildTarget: r.str()}
		}
		q.Limits.MaxInstructions = r.uint()
		mem := r.uint()
		if mem > math.MaxUint32 {
			r.fail(fmt.Errorf("request %d: memory limit %d MB does not fit 32 bits", i, mem))
		}
		q.Limits.MaxMemoryMB = uint32(mem)
		q.Limits.MaxExecutionSeconds = r.uint()
		q.Input = r.str()
		if r.flag() {
			q.Secrets = &store.SecretsRef{Profile: r.str(), AccountID: r.str()}
		}
		q.ResponseFormat = r.str()
		params := r.byte()
		if params&^(paramCompileOnly|paramForceRebuild|paramFastFS) != 0 {
			r.fail(fmt.Errorf("request %d: unknown params flags %#x", i, params))
		}
		q.Params = store.Params{
			CompileOnly:   params&paramCompileOnly != 0,
			ForceRebuild:  params&paramForceRebuild != 0,
			StoreOnFastFS: params&paramFastFS != 0,
		}
		q.Deposit = r.str()
		q.RequestedAtNs = r.uint()
		q.BlockHeight = r.uint()
		q.BlockHash = r.str()
		q.TxHash = r.str()
		q.ReceiptID = r.str()
		if r.err != nil {
			break
		}
	}
	if r.flag() {
		e.Cursor = &store.Cursor{Height: r.uint(), Hash: r.str()}
	}
	if version == CommandVersionCompactExt {
		n := r.uint()
		for last, x := byte(0), uint64(0); r.err == nil && x < n; x++ {
			tag := r.byte()
			if r.err == nil && tag <= last {
				r.fail(fmt.Errorf("extension %d after extension %d: out of order or repeated", tag, last))
			}
			last = tag
			switch {
			case r.err != nil:
			case tag == extRequiredSignatures:
				for i := range e.Requests {
					e.Requests[i].RequiredSignatures = r.uint()
				}
			case tag == extProject:
				for i := range e.Requests {
					q := &e.Requests[i]
					q.Signer, q.ProjectID, q.ProjectUUID = r.str(), r.str(), r.str()
				}
			default:
				r.fail(fmt.Errorf("unknown extension %d (upgrade this node)", tag))
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.s) != 0 {
		return nil, fmt.Errorf("%d bytes left over after the last field", len(r.s))
	}
	return e, nil
}
