package outlayer

import "unsafe"

// NEAR views. Every view of a run reads the chain at one block, chosen at
// the run's first view (the latest final block) and kept in its record.
// Answers are the JSON `result` of NEAR's RPC, except ViewFunction, which
// returns the bytes the contract returned.

func view(kind string, args ...string) ([]byte, error) {
	parts := [][]byte{[]byte(kind)}
	for _, a := range args {
		parts = append(parts, []byte(a))
	}
	req := fields(parts...)
	return bytesCall("near_view", func(out unsafe.Pointer, outCap uint32) int64 {
		return rawNearView(ptr(req), uint32(len(req)), out, outCap)
	})
}

// ViewFunction calls a contract's view method with JSON args ("" for none)
// and returns what it returned.
func ViewFunction(contract, method, argsJSON string) ([]byte, error) {
	return view("call_function", contract, method, argsJSON)
}

// ViewAccount returns the account's view (JSON).
func ViewAccount(account string) ([]byte, error) { return view("view_account", account) }

// ViewAccessKey returns an access key of the account (JSON).
func ViewAccessKey(account, publicKey string) ([]byte, error) {
	return view("view_access_key", account, publicKey)
}

// ViewState returns the account's contract state under a key prefix
// (base64; "" for all), as JSON.
func ViewState(account, prefixBase64 string) ([]byte, error) {
	return view("view_state", account, prefixBase64)
}

// Block returns the block the run's views read (JSON).
func Block() ([]byte, error) { return view("block") }
