package outlayer

import "fmt"

// Code is a host call's error code (the negated return value of an
// outlayer_v1 function).
type Code int32

// The error codes of outlayer_v1.
const (
	CodeNotFound    Code = 1
	CodeDenied      Code = 2
	CodeLimit       Code = 3
	CodeBadInput    Code = 4
	CodeUnavailable Code = 5
	CodeFailed      Code = 6
)

// Sentinels to test an *Error with errors.Is.
var (
	ErrNotFound    = &Error{Code: CodeNotFound}
	ErrDenied      = &Error{Code: CodeDenied}
	ErrLimit       = &Error{Code: CodeLimit}
	ErrBadInput    = &Error{Code: CodeBadInput}
	ErrUnavailable = &Error{Code: CodeUnavailable}
	ErrFailed      = &Error{Code: CodeFailed}
)

// Error is a host call's failure: which function, its code and the node's
// message.
type Error struct {
	Fn      string
	Code    Code
	Message string
}

func (e *Error) Error() string {
	if e.Fn == "" {
		return fmt.Sprintf("outlayer: %s", e.Code)
	}
	return fmt.Sprintf("outlayer: %s: %s: %s", e.Fn, e.Code, e.Message)
}

// Is matches an *Error with the same code, so errors.Is(err, ErrDenied)
// works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func (c Code) String() string {
	switch c {
	case CodeNotFound:
		return "not found"
	case CodeDenied:
		return "denied"
	case CodeLimit:
		return "limit exceeded"
	case CodeBadInput:
		return "bad input"
	case CodeUnavailable:
		return "unavailable"
	case CodeFailed:
		return "failed"
	}
	return fmt.Sprintf("code %d", int32(c))
}
