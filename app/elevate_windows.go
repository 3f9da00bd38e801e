package app

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/pin-client/pin-client/app/autostart"
)

// shellExecuteInfo is SHELLEXECUTEINFOW.
type shellExecuteInfo struct {
	cbSize      uint32
	fMask       uint32
	hwnd        windows.Handle
	verb        *uint16
	file        *uint16
	parameters  *uint16
	directory   *uint16
	show        int32
	instApp     windows.Handle
	idList      uintptr
	class       *uint16
	keyClass    windows.Handle
	hotKey      uint32
	iconMonitor windows.Handle
	process     windows.Handle
}

// SHELLEXECUTEINFOW is 112 bytes on 64-bit Windows and 60 on 32-bit: this line does not
// compile when shellExecuteInfo's layout differs.
var _ = [1]struct{}{}[unsafe.Sizeof(shellExecuteInfo{})-(60+52*(unsafe.Sizeof(uintptr(0))/8))]

const (
	seeMaskNoCloseProcess = 0x00000040 // SEE_MASK_NOCLOSEPROCESS: return the process handle
	seeMaskNoAsync        = 0x00000100 // SEE_MASK_NOASYNC: finish before returning
)

var procShellExecuteExW = windows.NewLazySystemDLL("shell32.dll").NewProc("ShellExecuteExW")

// runAsAdmin runs exe with args through the UAC prompt (ShellExecuteEx, verb "runas",
// its console hidden), waits for it to exit and returns its exit code. The user
// answering No is ERROR_CANCELLED. When ctx ends first it returns ctx's error and
// leaves the process running: stopping an install half way would be worse.
func runAsAdmin(ctx context.Context, exe string, args []string) (uint32, error) {
	verb, err := windows.UTF16PtrFromString("runas")
	if err != nil {
		return 0, err
	}
	file, err := windows.UTF16PtrFromString(exe)
	if err != nil {
		return 0, err
	}
	params, err := windows.UTF16PtrFromString(autostart.RunValue(args))
	if err != nil {
		return 0, err
	}
	info := shellExecuteInfo{
		fMask:      seeMaskNoCloseProcess | seeMaskNoAsync,
		verb:       verb,
		file:       file,
		parameters: params,
		show:       windows.SW_HIDE,
	}
	info.cbSize = uint32(unsafe.Sizeof(info))

	if err := shellExecuteEx(&info); err != nil {
		return 0, err
	}
	if info.process == 0 {
		return 0, errors.New("ShellExecuteEx returned no process")
	}
	defer windows.CloseHandle(info.process)
	for {
		ev, err := windows.WaitForSingleObject(info.process, 200)
		if err != nil {
			return 0, fmt.Errorf("waiting for the elevated command: %w", err)
		}
		if ev == windows.WAIT_OBJECT_0 {
			break
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
	}
	var code uint32
	if err := windows.GetExitCodeProcess(info.process, &code); err != nil {
		return 0, fmt.Errorf("exit status of the elevated command: %w", err)
	}
	return code, nil
}

// shellExecuteEx calls ShellExecuteExW on a thread with COM initialized, as the shell
// asks of its callers.
func shellExecuteEx(info *shellExecuteInfo) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// S_FALSE (1): COM was already initialized on this thread; it still needs its Uninitialize.
	if err := windows.CoInitializeEx(0, windows.COINIT_APARTMENTTHREADED|windows.COINIT_DISABLE_OLE1DDE); err == nil || err == windows.Errno(1) {
		defer windows.CoUninitialize()
	}
	ok, _, err := procShellExecuteExW.Call(uintptr(unsafe.Pointer(info)))
	if ok != 0 {
		return nil
	}
	if errno, isErrno := err.(windows.Errno); isErrno && errno != 0 {
		return errno
	}
	return errors.New("ShellExecuteEx failed")
}
