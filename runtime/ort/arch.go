package ort

import goruntime "runtime"

// archDir names the npm package's folder for this machine's architecture.
func archDir() string {
	if goruntime.GOARCH == "arm64" {
		return "arm64"
	}
	return "x64"
}
