// Command wasiprobe calls poll_oneoff and sock_shutdown directly and prints
// what they answered, for exec's tests of the WASI errnos.
package main

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

//go:wasmimport wasi_snapshot_preview1 poll_oneoff
func pollOneoff(in, out unsafe.Pointer, nsubs uint32, nevents unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 sock_shutdown
func sockShutdown(fd, how uint32) uint32

func fdSub(userdata uint64, kind byte, fd uint32) []byte {
	s := make([]byte, 48)
	binary.LittleEndian.PutUint64(s[0:], userdata)
	s[8] = kind
	binary.LittleEndian.PutUint32(s[16:], fd)
	return s
}

func clockSub(userdata, timeout uint64) []byte {
	s := make([]byte, 48)
	binary.LittleEndian.PutUint64(s[0:], userdata)
	s[8] = 0
	binary.LittleEndian.PutUint64(s[24:], timeout)
	return s
}

func poll(subs ...[]byte) {
	var in []byte
	for _, s := range subs {
		in = append(in, s...)
	}
	out := make([]byte, 32*len(subs))
	var n uint32
	errno := pollOneoff(unsafe.Pointer(&in[0]), unsafe.Pointer(&out[0]), uint32(len(subs)), unsafe.Pointer(&n))
	fmt.Printf("poll errno=%d nevents=%d", errno, n)
	for i := uint32(0); i < n; i++ {
		e := out[i*32:]
		fmt.Printf(" [ud=%d errno=%d type=%d]", binary.LittleEndian.Uint64(e), binary.LittleEndian.Uint16(e[8:]), e[10])
	}
	fmt.Println()
}

func main() {
	poll(fdSub(1, 2, 1), fdSub(2, 2, 2), clockSub(3, 1e9))
	poll(fdSub(4, 1, 0))
	poll(fdSub(5, 2, 9))
	poll(clockSub(6, 1e6), clockSub(7, 2e6))
	fmt.Println("sock_shutdown(stdout):", sockShutdown(1, 3))
	fmt.Println("sock_shutdown(99):", sockShutdown(99, 3))
}
