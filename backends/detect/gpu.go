package detect

import (
	"os"
	"path/filepath"
	"runtime"
)

// LocalGPU reports whether this machine has a GPU an LLM server can use: Yes when a GPU
// driver LLM servers use is installed (NVIDIA, or AMD ROCm) or on Apple silicon, Unknown
// otherwise — never No, since an absent marker proves nothing. It only looks at files;
// it starts no process and loads no library.
func LocalGPU() Tri {
	return localGPU(runtime.GOOS, runtime.GOARCH, fileExists, os.Getenv)
}

func localGPU(goos, goarch string, exists func(string) bool, getenv func(string) string) Tri {
	var markers []string
	switch goos {
	case "darwin":
		if goarch == "arm64" { // Apple silicon: Metal, unified memory
			return Yes
		}
		return Unknown
	case "linux":
		markers = []string{
			"/proc/driver/nvidia/version", // NVIDIA kernel driver loaded
			"/dev/nvidia0",
			"/dev/kfd", // AMD ROCm compute device
		}
	case "windows":
		root := getenv("SystemRoot")
		if root == "" {
			root = `C:\Windows`
		}
		sys := filepath.Join(root, "System32")
		markers = []string{
			filepath.Join(sys, "nvcuda.dll"),   // NVIDIA CUDA driver
			filepath.Join(sys, "amdhip64.dll"), // AMD HIP runtime
		}
	}
	for _, m := range markers {
		if exists(m) {
			return Yes
		}
	}
	return Unknown
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
