package testnet

import "encoding/json"

func jsonArgs(args any) ([]byte, error) {
	if b, ok := args.([]byte); ok {
		return b, nil
	}
	return json.Marshal(args)
}
