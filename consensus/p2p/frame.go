package p2p

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// WriteJSON writes v as one length-prefixed JSON message: a 4-byte big-endian
// length, then the body. Every OutLayer stream protocol frames its messages
// this way, so a reader always knows how much to expect before allocating.
func WriteJSON(w io.Writer, v any, limit int) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	if len(body) > limit {
		return fmt.Errorf("message of %d bytes exceeds the %d-byte limit", len(body), limit)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err = w.Write(body)
	return err
}

// ErrFrameTooLarge: a peer announced a message above the reader's limit.
var ErrFrameTooLarge = errors.New("message above the limit")

// ReadJSON reads one message written by WriteJSON into v, refusing a peer
// that announces more than limit bytes before reading the body. The body's
// buffer grows as its bytes arrive, never from the announced length alone:
// a peer that announces a large message and sends nothing costs nothing.
func ReadJSON(r io.Reader, v any, limit int) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(limit) {
		return fmt.Errorf("%w: peer announced %d bytes; the limit is %d", ErrFrameTooLarge, n, limit)
	}
	var body bytes.Buffer
	got, err := body.ReadFrom(io.LimitReader(r, int64(n)))
	if err != nil {
		return err
	}
	if got != int64(n) {
		return fmt.Errorf("peer announced %d bytes and sent %d: %w", n, got, io.ErrUnexpectedEOF)
	}
	if err := json.Unmarshal(body.Bytes(), v); err != nil {
		return fmt.Errorf("decode message: %w", err)
	}
	return nil
}
