package vm

import (
	"encoding/json"
	"fmt"
)

// FunctionCallError is nearcore's FunctionCallError as its JSON view shows it:
// host and VM errors are flattened to {"ExecutionError": "<text>"}, method
// resolution and compilation errors stay structured.
type FunctionCallError struct {
	// JSON is the value of ActionError.kind.FunctionCallError.
	JSON any
	// Text is the human-readable form (used in view-call errors and logs).
	Text string
	// GasExceeded is set when the call ran out of prepaid gas.
	GasExceeded bool
}

func (e *FunctionCallError) Error() string { return e.Text }

// MarshalJSON writes the nearcore JSON form.
func (e *FunctionCallError) MarshalJSON() ([]byte, error) { return json.Marshal(e.JSON) }

// ExecutionError is {"ExecutionError": text}.
func ExecutionError(text string) *FunctionCallError {
	return &FunctionCallError{JSON: map[string]string{"ExecutionError": text}, Text: text}
}

// CodeDoesNotExist is the error of a call to an account without a contract.
func CodeDoesNotExist(account string) *FunctionCallError {
	return &FunctionCallError{
		JSON: map[string]any{"CompilationError": map[string]any{"CodeDoesNotExist": map[string]string{"account_id": account}}},
		Text: "CompilationError(CodeDoesNotExist { account_id: " + rustQuote(account) + " })",
	}
}

// PrepareError is a contract nearcore refuses to prepare (bad WASM, imported
// memory, too many functions...).
func PrepareError(kind string) *FunctionCallError {
	return &FunctionCallError{
		JSON: map[string]any{"CompilationError": map[string]string{"PrepareError": kind}},
		Text: fmt.Sprintf("CompilationError(PrepareError(%s))", kind),
	}
}

func methodResolveError(kind string) *FunctionCallError {
	return &FunctionCallError{
		JSON: map[string]string{"MethodResolveError": kind},
		Text: fmt.Sprintf("MethodResolveError(%s)", kind),
	}
}

// hostError is a host-function failure; it aborts the call with its text.
type hostError struct {
	text        string
	gasExceeded bool
}

func (e *hostError) Error() string { return e.text }

func hostErr(format string, a ...any) *hostError { return &hostError{text: fmt.Sprintf(format, a...)} }

// The host errors' texts, as nearcore's HostError Display prints them.
var (
	errGasExceeded      = &hostError{text: "Exceeded the prepaid gas.", gasExceeded: true}
	errGasLimitExceeded = &hostError{text: "Exceeded the maximum amount of gas allowed to burn per contract.", gasExceeded: true}
	errBalanceExceeded  = hostErr("Exceeded the account balance.")
	errMemoryAccess     = hostErr("Accessed memory outside the bounds.")
	errBadUTF8          = hostErr("String encoding is bad UTF-8 sequence.")
	errBadUTF16         = hostErr("String encoding is bad UTF-16 sequence.")
	errInvalidAccountID = hostErr("VM Logic returned an invalid account id")
	errEmptyMethodName  = hostErr("Tried to call an empty method name.")
	errInvalidPublicKey = hostErr("VM Logic provided an invalid public key")
	errJointAppend      = hostErr("Actions can only be appended to non-joint promise.")
	errJointReturn      = hostErr("Returning joint promise is currently prohibited.")
	errDataIDMalformed  = hostErr("Yield resumption data id is malformed")
)

func prohibitedInView(name string) *hostError {
	return hostErr("%s is not allowed in view calls", name)
}

func unsupported(name string) *hostError {
	return hostErr("%s is not supported by the devchain", name)
}
