// hostprobe runs a script of host calls read from stdin, one per line, and
// prints each call's answer: the tests' way to drive every outlayer_v1
// function from a real Go program built with the SDK.
//
//	get|has|del SCOPE KEY        set|setnx SCOPE KEY VALUE
//	cas SCOPE KEY OLD NEW        incr SCOPE KEY DELTA
//	list SCOPE PREFIX AFTER LIMIT ("-" for an empty PREFIX or AFTER)
//	fetch METHOD URL [BODY]      vrf SEED      pubkey
//	view KIND ARGS...            big N (a GET whose answer is N bytes is expected)
//	exit CODE
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	outlayer "github.com/outlayer/outlayer/exec/sdk"
)

func scope(s string) outlayer.Storage {
	switch s {
	case "worker":
		return outlayer.WorkerStorage
	case "public":
		return outlayer.PublicStorage
	}
	return outlayer.UserStorage
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		arg := func(i int) string {
			if i < len(f) {
				return f[i]
			}
			return ""
		}
		var out any
		var err error
		switch f[0] {
		case "get":
			var v []byte
			v, err = scope(arg(1)).Get(arg(2))
			out = string(v)
		case "set":
			err = scope(arg(1)).Set(arg(2), []byte(arg(3)))
			out = "ok"
		case "has":
			out, err = scope(arg(1)).Has(arg(2))
		case "del":
			out, err = scope(arg(1)).Delete(arg(2))
		case "setnx":
			out, err = scope(arg(1)).SetIfAbsent(arg(2), []byte(arg(3)))
		case "cas":
			out, err = scope(arg(1)).SetIfEquals(arg(2), []byte(arg(3)), []byte(arg(4)))
		case "incr":
			d, _ := strconv.ParseInt(arg(3), 10, 64)
			out, err = scope(arg(1)).Increment(arg(2), d)
		case "list":
			n, _ := strconv.Atoi(arg(4))
			out, err = scope(arg(1)).List(dash(arg(2)), dash(arg(3)), n)
		case "fetch":
			var resp *outlayer.Response
			resp, err = outlayer.Do(&outlayer.Request{Method: arg(1), URL: arg(2), Body: []byte(arg(3)),
				Header: outlayer.Header{"X-Probe": {"1"}}})
			if err == nil {
				out = fmt.Sprintf("%d %s %q", resp.StatusCode, resp.Header.Get("X-Answer"), resp.Body)
			}
		case "big":
			var resp *outlayer.Response
			resp, err = outlayer.Get(arg(1))
			if err == nil {
				out = fmt.Sprintf("%d bytes", len(resp.Body))
			}
		case "vrf":
			var v outlayer.VRFOutput
			v, err = outlayer.VRF(arg(1))
			out = v
		case "pubkey":
			out, err = outlayer.VRFPublicKey()
		case "view":
			var v []byte
			switch arg(1) {
			case "function":
				v, err = outlayer.ViewFunction(arg(2), arg(3), arg(4))
			case "account":
				v, err = outlayer.ViewAccount(arg(2))
			case "block":
				v, err = outlayer.Block()
			}
			out = string(v)
		case "exit":
			code, _ := strconv.Atoi(arg(1))
			fmt.Println("exiting", code)
			os.Exit(code)
		default:
			err = fmt.Errorf("unknown command %q", f[0])
		}
		if err != nil {
			fmt.Printf("%s -> error: %v\n", line, err)
			continue
		}
		fmt.Printf("%s -> %v\n", line, out)
	}
}
