package hostabi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
)

// Entry is one host call of a run and the answer it got.
type Entry struct {
	Fn   Fn
	Args [][]byte
	Code Code
	Data []byte
}

// Record is everything a run observed from outside, in order. Its encoding
// (Marshal) is canonical: equal records encode to equal bytes, so two
// executors that saw the same answers report the same Hash.
type Record struct {
	Entries []Entry
}

// recordMagic is the first field of an encoded record.
const recordMagic = "outlayer-record/1"

// MaxRecordBytes bounds an encoded record (the run's limits keep real ones
// far below it).
const MaxRecordBytes = 64 << 20

// Marshal encodes r: fields (see AppendFields) of the magic, then per entry
// one field holding the fields fn, args (themselves fields), code (u32 LE)
// and data.
func (r *Record) Marshal() []byte {
	out := AppendFields(nil, []byte(recordMagic))
	for _, e := range r.Entries {
		out = AppendFields(out, e.encode())
	}
	return out
}

func (e *Entry) encode() []byte {
	return AppendFields(nil, []byte(e.Fn), AppendFields(nil, e.Args...), PutU32(uint32(e.Code)), e.Data)
}

// ParseRecord decodes a record written by Marshal.
func ParseRecord(b []byte) (*Record, error) {
	if len(b) > MaxRecordBytes {
		return nil, fmt.Errorf("the record is %d bytes, above the cap of %d", len(b), MaxRecordBytes)
	}
	fields, err := SplitFields(b)
	if err != nil {
		return nil, fmt.Errorf("not a run record: %w", err)
	}
	if len(fields) == 0 || string(fields[0]) != recordMagic {
		return nil, fmt.Errorf("not a run record (it does not start with %q)", recordMagic)
	}
	r := &Record{}
	for i, f := range fields[1:] {
		parts, err := SplitFields(f)
		if err != nil || len(parts) != 4 {
			return nil, fmt.Errorf("run record entry %d is malformed", i)
		}
		args, err := SplitFields(parts[1])
		if err != nil {
			return nil, fmt.Errorf("run record entry %d: its arguments are malformed: %w", i, err)
		}
		code, ok := U32(parts[2])
		if !ok {
			return nil, fmt.Errorf("run record entry %d: its code is not 4 bytes", i)
		}
		r.Entries = append(r.Entries, Entry{Fn: Fn(parts[0]), Args: cloneAll(args), Code: Code(code), Data: bytes.Clone(parts[3])})
	}
	return r, nil
}

func cloneAll(bs [][]byte) [][]byte {
	out := make([][]byte, len(bs))
	for i, b := range bs {
		out[i] = bytes.Clone(b)
	}
	return out
}

// Hash is the sha256 of the record's encoding; a run that made no host call
// has HashHex "" (see HashHex).
func (r *Record) Hash() [32]byte { return sha256.Sum256(r.Marshal()) }

// HashHex is Hash in lowercase hex, or "" for a record with no entries, so
// that a run without host calls reports no record at all.
func (r *Record) HashHex() string {
	if r == nil || len(r.Entries) == 0 {
		return ""
	}
	h := r.Hash()
	return hex.EncodeToString(h[:])
}

// Recorder wraps a Handler and appends every call and its answer to a
// Record. It is safe for concurrent use (a run makes one call at a time;
// the lock is for readers of the record).
type Recorder struct {
	next Handler
	mu   sync.Mutex
	rec  Record
}

// NewRecorder records the calls h answers.
func NewRecorder(h Handler) *Recorder { return &Recorder{next: h} }

// Handle answers c through the wrapped handler and records both.
func (r *Recorder) Handle(ctx context.Context, c Call) Reply {
	var rep Reply
	if r.next == nil {
		rep = Errorf(Unavailable, "this run offers no host functions")
	} else {
		rep = r.next(ctx, c)
	}
	r.mu.Lock()
	r.rec.Entries = append(r.rec.Entries, Entry{Fn: c.Fn, Args: cloneAll(c.Args), Code: rep.Code, Data: bytes.Clone(rep.Data)})
	r.mu.Unlock()
	return rep
}

// Record returns a copy of what was recorded so far.
func (r *Recorder) Record() *Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &Record{Entries: append([]Entry(nil), r.rec.Entries...)}
}

// Replayer answers a run's calls from a record, in order, without asking
// the world. A call that differs from the record's next entry (another
// function or other arguments), or a call past its end, makes the program
// trap with ErrReplayDiverged's message; Check reports it afterwards, and
// also a run that made fewer calls than the record holds.
type Replayer struct {
	rec *Record
	mu  sync.Mutex
	pos int
	err error
}

// NewReplayer replays rec.
func NewReplayer(rec *Record) *Replayer { return &Replayer{rec: rec} }

// Handle answers c with the record's next entry.
func (p *Replayer) Handle(_ context.Context, c Call) Reply {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return Reply{Code: Trap, Data: []byte(p.err.Error())}
	}
	if p.pos >= len(p.rec.Entries) {
		p.err = fmt.Errorf("%w: call %d (%s) is past the end of the record, which holds %d calls", ErrReplayDiverged, p.pos+1, c.Fn, len(p.rec.Entries))
		return Reply{Code: Trap, Data: []byte(p.err.Error())}
	}
	e := p.rec.Entries[p.pos]
	if e.Fn != c.Fn || !equalArgs(e.Args, c.Args) {
		p.err = fmt.Errorf("%w: call %d is %s%s, but the record holds %s%s", ErrReplayDiverged, p.pos+1, c.Fn, describeArgs(c.Args), e.Fn, describeArgs(e.Args))
		return Reply{Code: Trap, Data: []byte(p.err.Error())}
	}
	p.pos++
	return Reply{Code: e.Code, Data: bytes.Clone(e.Data)}
}

// Check reports how the replay went: nil when the run made exactly the
// record's calls.
func (p *Replayer) Check() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	if p.pos != len(p.rec.Entries) {
		return fmt.Errorf("%w: the run made %d calls, the record holds %d", ErrReplayDiverged, p.pos, len(p.rec.Entries))
	}
	return nil
}

func equalArgs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// describeArgs shows arguments briefly for a divergence message.
func describeArgs(args [][]byte) string {
	var b bytes.Buffer
	b.WriteByte('(')
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		s := a
		if len(s) > 48 {
			s = s[:48]
		}
		fmt.Fprintf(&b, "%q", s)
		if len(a) > 48 {
			fmt.Fprintf(&b, "…[%d bytes]", len(a))
		}
	}
	b.WriteByte(')')
	return b.String()
}
