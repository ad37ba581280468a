module github.com/outlayer/outlayer/exec/sdk

go 1.24
