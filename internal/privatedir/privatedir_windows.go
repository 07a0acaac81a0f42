package privatedir

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// fileAllAccess is FILE_ALL_ACCESS: every right on a file or folder. It is named rather than
// GENERIC_ALL, which Windows would split on a folder into an entry for the folder and an
// inherit-only one for its contents.
const fileAllAccess = windows.STANDARD_RIGHTS_REQUIRED | windows.SYNCHRONIZE | 0x1ff

// makePrivate creates path and replaces its DACL with one entry: full access for the current
// user, inherited by subfolders and files; the DACL is protected, so the parent folder's
// entries (Administrators, SYSTEM, Users) no longer apply.
func makePrivate(path string) error {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return err
	}
	acl, err := ownerOnlyACL()
	if err != nil {
		return err
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, acl, nil)
	if err != nil {
		return fmt.Errorf("set access list: %w", err)
	}
	return nil
}

// currentUserSID is the SID of the user the process runs as.
func currentUserSID() (*windows.SID, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("current user: %w", err)
	}
	return tu.User.Sid.Copy()
}

// ownerOnlyACL is a DACL granting the current user alone full access, inherited by everything
// inside.
func ownerOnlyACL() (*windows.ACL, error) {
	sid, err := currentUserSID()
	if err != nil {
		return nil, err
	}
	acl, err := windows.ACLFromEntries([]windows.EXPLICIT_ACCESS{{
		AccessPermissions: fileAllAccess,
		AccessMode:        windows.SET_ACCESS,
		Inheritance:       windows.SUB_CONTAINERS_AND_OBJECTS_INHERIT,
		Trustee: windows.TRUSTEE{
			TrusteeForm:  windows.TRUSTEE_IS_SID,
			TrusteeType:  windows.TRUSTEE_IS_USER,
			TrusteeValue: windows.TrusteeValueFromSID(sid),
		},
	}}, nil)
	if err != nil {
		return nil, fmt.Errorf("build access list: %w", err)
	}
	return acl, nil
}
