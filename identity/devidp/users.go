package devidp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
)

// User is a person who can sign in at the development identity provider.
type User struct {
	// Email is the user's email address and login name; it must be unique.
	Email string
	// Name is the display name.
	Name string
	// Password is the plain-text password (development only).
	Password string
	// Groups are listed in the ID token's groups claim.
	Groups []string
	// MFA enables the second factor: amr gets "otp" and "mfa" only when the
	// login form's otp field equals OTP.
	MFA bool
	// OTP is the fixed one-time code of an MFA user (development only).
	OTP string
}

// DefaultUsers returns the SCENARIOS cast: alice (ops, MFA with one-time
// code 123456), bob (contractors), carol (auditors), dave
// (portcullis-admins) and mallory (no group); the password of all is
// "password" (development only).
func DefaultUsers() []User {
	return []User{
		{Email: "alice@example.com", Name: "Alice", Password: "password", Groups: []string{"ops"}, MFA: true, OTP: "123456"},
		{Email: "bob@example.com", Name: "Bob", Password: "password", Groups: []string{"contractors"}},
		{Email: "carol@example.com", Name: "Carol", Password: "password", Groups: []string{"auditors"}},
		{Email: "dave@example.com", Name: "Dave", Password: "password", Groups: []string{"portcullis-admins"}},
		{Email: "mallory@example.com", Name: "Mallory", Password: "password"},
	}
}

// Amr values (RFC 8176) the provider puts in ID tokens.
const (
	amrPassword = "pwd"
	amrOTP      = "otp"
	amrMFA      = "mfa"
)

// Login refusals shown on the form.
var (
	// ErrBadCredentials: unknown user or wrong password.
	ErrBadCredentials = errors.New("wrong username or password")
	// ErrBadOTP: a one-time code was given but does not match the user's.
	ErrBadOTP = errors.New("wrong one-time code")
)

// subject returns the stable sub claim of a user, derived from the email.
func (u User) subject() string {
	sum := sha256.Sum256([]byte(strings.ToLower(u.Email)))
	return "u-" + hex.EncodeToString(sum[:8])
}

// username is the part of the email before the @.
func (u User) username() string {
	name, _, _ := strings.Cut(u.Email, "@")
	return name
}

// directory looks users up by login name and by subject. It is read-only
// after construction.
type directory struct {
	byLogin   map[string]User
	bySubject map[string]User
}

func newDirectory(users []User) (directory, error) {
	d := directory{byLogin: map[string]User{}, bySubject: map[string]User{}}
	var errs []error
	for _, u := range users {
		switch {
		case u.Email == "" || !strings.Contains(u.Email, "@"):
			errs = append(errs, errors.New("devidp: a user needs an email address"))
			continue
		case u.Password == "":
			errs = append(errs, errors.New("devidp: user "+u.Email+" has no password"))
		case u.MFA && u.OTP == "":
			errs = append(errs, errors.New("devidp: MFA user "+u.Email+" has no OTP"))
		}
		email := strings.ToLower(u.Email)
		if _, dup := d.byLogin[email]; dup {
			errs = append(errs, errors.New("devidp: duplicate user "+u.Email))
		}
		d.byLogin[email] = u
		if _, taken := d.byLogin[strings.ToLower(u.username())]; !taken {
			d.byLogin[strings.ToLower(u.username())] = u
		}
		d.bySubject[u.subject()] = u
	}
	return d, errors.Join(errs...)
}

// authenticate checks a login and returns the user and the amr values.
func (d directory) authenticate(login, password, otp string) (User, []string, error) {
	u, ok := d.byLogin[strings.ToLower(strings.TrimSpace(login))]
	if !ok || subtle.ConstantTimeCompare([]byte(password), []byte(u.Password)) != 1 {
		return User{}, nil, ErrBadCredentials
	}
	otp = strings.TrimSpace(otp)
	if otp == "" {
		return u, []string{amrPassword}, nil
	}
	if !u.MFA || subtle.ConstantTimeCompare([]byte(otp), []byte(u.OTP)) != 1 {
		return User{}, nil, ErrBadOTP
	}
	return u, []string{amrPassword, amrOTP, amrMFA}, nil
}
