package vm

import (
	"fmt"
	"regexp"
	"strings"
)

// nearcore words a view call's failure with the Debug form of its
// FunctionCallError ("wasm execution failed with error: HostError(GuestPanic
// { panic_msg: \"...\" })"), while outcomes carry the Display form (Text).
// DebugText derives the first from the second; texts it does not know stay
// as they are.

type debugRule struct {
	re   *regexp.Regexp
	form func(m []string) string
}

func rule(pattern string, form func(m []string) string) debugRule {
	return debugRule{re: regexp.MustCompile(`^(?s:` + pattern + `)$`), form: form}
}

func unit(name string) func([]string) string {
	return func([]string) string { return name }
}

func fields(name string, keys ...string) func([]string) string {
	return func(m []string) string {
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + m[i+1]
		}
		return name + " { " + strings.Join(parts, ", ") + " }"
	}
}

// debugRules maps host-error Display texts to their Debug forms (without the
// HostError(...) or WasmTrap(...) wrapper, added by DebugText).
func debugRules() (host, trap []debugRule) {
	host = []debugRule{
		rule(`Smart contract panicked: (.*)`, func(m []string) string { return "GuestPanic { panic_msg: " + rustQuote(m[1]) + " }" }),
		rule(`Exceeded the prepaid gas\.`, unit("GasExceeded")),
		rule(`Exceeded the maximum amount of gas allowed to burn per contract\.`, unit("GasLimitExceeded")),
		rule(`Exceeded the account balance\.`, unit("BalanceExceeded")),
		rule(`Accessed memory outside the bounds\.`, unit("MemoryAccessViolation")),
		rule(`String encoding is bad UTF-8 sequence\.`, unit("BadUTF8")),
		rule(`String encoding is bad UTF-16 sequence\.`, unit("BadUTF16")),
		rule(`VM Logic returned an invalid account id`, unit("InvalidAccountId")),
		rule(`Tried to call an empty method name\.`, unit("EmptyMethodName")),
		rule(`VM Logic provided an invalid public key`, unit("InvalidPublicKey")),
		rule(`Actions can only be appended to non-joint promise\.`, unit("CannotAppendActionToJointPromise")),
		rule(`Returning joint promise is currently prohibited\.`, unit("CannotReturnJointPromise")),
		rule(`Yield resumption data id is malformed`, unit("DataIdMalformed")),
		rule(`Integer overflow\.`, unit("IntegerOverflow")),
		rule(`(\w+) is not allowed in view calls`, func(m []string) string { return "ProhibitedInView { method_name: " + rustQuote(m[1]) + " }" }),
		rule(`Attempted to call deprecated host function (\w+)`, func(m []string) string { return "Deprecated { method_name: " + rustQuote(m[1]) + " }" }),
		rule(`(ECRecoverError \{ msg: ".*" \})`, func(m []string) string { return m[1] }),
		rule(`(Ed25519VerifyInvalidInput \{ msg: ".*" \})`, func(m []string) string { return m[1] }),
		rule(`The length of a returned value (\d+) exceeds the limit (\d+)`, fields("ReturnedValueLengthExceeded", "length", "limit")),
		rule(`The number of input data dependencies (\d+) exceeds the limit (\d+)`, fields("NumberInputDataDependenciesExceeded", "number_of_input_data_dependencies", "limit")),
		rule(`The number of promises within a FunctionCall (\d+) exceeds the limit (\d+)`, fields("NumberPromisesExceeded", "number_of_promises", "limit")),
		rule(`The size of a contract code in DeployContract action (\d+) exceeds the limit (\d+)`, fields("ContractSizeExceeded", "size", "limit")),
		rule(`Accessed invalid promise result index: (\d+)`, fields("InvalidPromiseResultIndex", "result_idx")),
		rule(`(\d+) does not correspond to existing promises`, fields("InvalidPromiseIndex", "promise_idx")),
		rule(`Yield resumption payload is (\d+) bytes which exceeds the (\d+) byte limit`, fields("YieldPayloadLength", "length", "limit")),
		rule(`The length of a storage value (\d+) exceeds the limit (\d+)`, fields("ValueLengthExceeded", "length", "limit")),
		rule(`The length of a storage key (\d+) exceeds the limit (\d+)`, fields("KeyLengthExceeded", "length", "limit")),
		rule(`The length of a log message (\d+) exceeds the limit (\d+)`, fields("TotalLogLengthExceeded", "length", "limit")),
		rule(`The number of logs will exceed the limit (\d+)`, fields("NumberOfLogsExceeded", "limit")),
		rule(`Accessed invalid register id: (\d+)`, fields("InvalidRegisterId", "register_id")),
	}
	trap = []debugRule{
		rule("WebAssembly trap: An `unreachable` opcode was executed\\.", unit("Unreachable")),
		rule(`WebAssembly trap: Memory out of bounds trap\.`, unit("MemoryOutOfBounds")),
		rule(`WebAssembly trap: An arithmetic exception, e\.g\. divided by zero\.`, unit("IllegalArithmetic")),
		rule(`WebAssembly trap: Call stack exhausted\.`, unit("StackOverflow")),
		rule(`WebAssembly trap: Call indirect out of bounds\.`, unit("IndirectCallToNull")),
		rule(`WebAssembly trap: Call indirect incorrect signature trap\.`, unit("IncorrectCallIndirectSignature")),
		rule(`WebAssembly trap: .*`, unit("GenericTrap")),
	}
	return host, trap
}

// DebugText is nearcore's Debug form of the error, as view calls report it.
func (e *FunctionCallError) DebugText() string {
	host, trap := debugRules()
	for _, r := range host {
		if m := r.re.FindStringSubmatch(e.Text); m != nil {
			return "HostError(" + r.form(m) + ")"
		}
	}
	for _, r := range trap {
		if m := r.re.FindStringSubmatch(e.Text); m != nil {
			return "WasmTrap(" + r.form(m) + ")"
		}
	}
	return e.Text
}

// rustQuote writes s as Rust's Debug for str does: double quotes, with
// backslash escapes for quotes, backslashes and control characters.
func rustQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case 0:
			b.WriteString(`\0`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u{%x}`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
