//go:build windows

package secret

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// restrict replaces the file's inherited ACL (folders under ProgramData are readable by
// all users) with a protected one: full control for the current user, SYSTEM and
// Administrators, nobody else.
func restrict(f *os.File) error {
	tok := windows.GetCurrentProcessToken()
	u, err := tok.GetTokenUser()
	if err != nil {
		return fmt.Errorf("current user: %w", err)
	}
	sddl := fmt.Sprintf("D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;%s)", u.User.Sid.String())
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return fmt.Errorf("security descriptor: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("security descriptor: %w", err)
	}
	return windows.SetNamedSecurityInfo(f.Name(), windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}

// readableByOthers is not checked on Windows: files written here carry a protected ACL,
// and mode bits say nothing about ACLs.
func readableByOthers(string) bool { return false }
