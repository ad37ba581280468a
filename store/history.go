package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// MaxPageSize caps one page of history.
const MaxPageSize = 1000

// Page asks for one page of history, newest request first.
type Page struct {
	// Limit is the page size; 0 means 50, and it is capped at MaxPageSize.
	Limit int
	// Token is the NextToken of the previous page; empty for the first page.
	Token string
}

// PageResult is one page of history.
type PageResult struct {
	Jobs []*Job
	// NextToken fetches the following page; empty when there is none.
	NextToken string
}

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return 50
	case p.Limit > MaxPageSize:
		return MaxPageSize
	}
	return p.Limit
}

// token encodes "continue below this id".
func pageToken(id uint64) string { return hex.EncodeToString(u64key(id)) }

func parsePageToken(tok string) (id uint64, ok bool, err error) {
	if tok == "" {
		return 0, false, nil
	}
	b, err := hex.DecodeString(tok)
	if err != nil || len(b) != 8 {
		return 0, false, badInput("page token %q is not one this store issued", tok)
	}
	return binary.BigEndian.Uint64(b), true, nil
}

// Latest returns the newest requests, by descending id, one page at a time.
func (t *Tx) Latest(p Page) (PageResult, error) {
	return t.pageDown(t.bucket(bucketRequests), nil, p, true)
}

// BySender returns the requests sent by account, newest first.
func (t *Tx) BySender(account string, p Page) (PageResult, error) {
	if err := validIndexPart("sender account", account); err != nil {
		return PageResult{}, fmt.Errorf("%w: %w", err, ErrBadInput)
	}
	return t.pageDown(t.bucket(bucketBySender), compositeKey(nil, account), p, false)
}

// pageDown walks keys prefix‖id in descending id order. valuesAreJobs says the
// bucket is the request bucket itself rather than an index of it.
func (t *Tx) pageDown(b *bolt.Bucket, prefix []byte, p Page, valuesAreJobs bool) (PageResult, error) {
	below, hasToken, err := parsePageToken(p.Token)
	if err != nil {
		return PageResult{}, err
	}
	limit := p.limit()
	// Position on the last key below target: prefix‖below for a later page,
	// or just past the prefix for the first one.
	target := prefixEnd(prefix)
	if hasToken {
		target = append(bytes.Clone(prefix), u64key(below)...)
	}
	c := b.Cursor()
	var k, v []byte
	if target == nil {
		k, v = c.Last()
	} else if k, _ = c.Seek(target); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	var res PageResult
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = c.Prev() {
		id := binary.BigEndian.Uint64(k[len(prefix):])
		if hasToken && id >= below {
			continue
		}
		if len(res.Jobs) == limit {
			res.NextToken = pageToken(res.Jobs[len(res.Jobs)-1].ID)
			break
		}
		var j *Job
		if valuesAreJobs {
			j, err = decodeJob(v)
		} else {
			j, err = t.Get(id)
		}
		if err != nil {
			return PageResult{}, err
		}
		res.Jobs = append(res.Jobs, j)
	}
	return res, nil
}

// prefixEnd is the smallest key greater than every key with this prefix
// (nil for an empty prefix: seek to the end).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
