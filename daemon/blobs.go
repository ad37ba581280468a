package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/store"
)

// BlobProtocol fetches a WASM blob from another member by its sha256.
//
// Request: the 32-byte hash. Response: one status byte (0 found, 1 not
// found), then for a found blob its length (8 bytes, big endian) and bytes.
// The fetcher checks the sha256, so a member can waste our time but never
// hand us different code.
const BlobProtocol = "/outlayer/blob/1"

const (
	blobFound    byte = 0
	blobNotFound byte = 1
)

func (n *Node) registerBlobProtocol() {
	n.cons.Host().Handle(BlobProtocol, func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(time.Minute))
		var h store.BlobHash
		if _, err := io.ReadFull(s, h[:]); err != nil {
			_ = s.Reset()
			return
		}
		data, err := n.cons.Store().Blob(h)
		if err != nil {
			_, _ = s.Write([]byte{blobNotFound})
			return
		}
		var hdr [9]byte
		hdr[0] = blobFound
		binary.BigEndian.PutUint64(hdr[1:], uint64(len(data)))
		if _, err := s.Write(hdr[:]); err != nil {
			return
		}
		_, _ = s.Write(data)
	})
}

// blobClient fetches blobs from the other members over BlobProtocol.
type blobClient struct{ n *Node }

// fetchBlob asks every member for h and returns the first copy whose
// sha256 is h, and who sent it.
func (b blobClient) fetchBlob(ctx context.Context, h store.BlobHash) ([]byte, string, error) {
	return b.n.fetchBlobFromPeers(ctx, h)
}

// fetchBlobFromPeers asks every reachable member for h and returns the first
// copy whose sha256 is h.
func (n *Node) fetchBlobFromPeers(ctx context.Context, h store.BlobHash) ([]byte, string, error) {
	servers, err := n.cons.Servers()
	if err != nil {
		return nil, "", err
	}
	self := n.cons.PeerID()
	var errs []error
	for _, srv := range servers {
		if srv.ID == self {
			continue
		}
		data, err := n.fetchBlobFrom(ctx, srv.ID.String(), h)
		if err == nil {
			return data, srv.ID.String(), nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", shortPeer(srv.ID.String()), err))
	}
	if len(errs) == 0 {
		return nil, "", errors.New("no other member to ask")
	}
	return nil, "", errors.Join(errs...)
}

func (n *Node) fetchBlobFrom(ctx context.Context, peerID string, h store.BlobHash) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	pid, err := peer.Decode(peerID)
	if err != nil {
		return nil, err
	}
	s, err := n.cons.Host().NewStream(ctx, pid, BlobProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if _, err := s.Write(h[:]); err != nil {
		return nil, err
	}
	_ = s.CloseWrite()
	var status [1]byte
	if _, err := io.ReadFull(s, status[:]); err != nil {
		return nil, err
	}
	if status[0] != blobFound {
		return nil, errors.New("does not hold it")
	}
	var size [8]byte
	if _, err := io.ReadFull(s, size[:]); err != nil {
		return nil, err
	}
	sz := binary.BigEndian.Uint64(size[:])
	if sz > store.MaxBlobSize {
		return nil, fmt.Errorf("offered %d bytes, above the %d-byte blob limit", sz, store.MaxBlobSize)
	}
	data := make([]byte, sz)
	if _, err := io.ReadFull(s, data); err != nil {
		return nil, err
	}
	if sha256.Sum256(data) != h {
		return nil, errors.New("sent bytes whose sha256 does not match")
	}
	return data, nil
}
