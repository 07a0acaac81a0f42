package identity

import (
	"crypto/subtle"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/portcullis/portcullis/access"
)

// Claims is what a verified ID token says about the person who signed in.
type Claims struct {
	// Subject is the mapped user id (the ClaimMapping.UserClaim value), e.g. alice@example.com.
	Subject string `json:"subject"`
	// Sub is the token's own sub claim, the provider's stable id for the user.
	Sub string `json:"sub"`
	// Issuer is the iss claim.
	Issuer string `json:"issuer"`
	// Email is the email claim, "" when absent.
	Email string `json:"email,omitempty"`
	// Name is the name claim, "" when absent.
	Name string `json:"name,omitempty"`
	// Groups is the ClaimMapping.GroupsClaim value; nil when absent.
	Groups []string `json:"groups,omitempty"`
	// AMR lists the authentication methods (RFC 8176), e.g. ["pwd","otp","mfa"].
	AMR []string `json:"amr,omitempty"`
	// ACR is the authentication context class reference, "" when absent.
	ACR string `json:"acr,omitempty"`
	// AuthTime is when the user authenticated (auth_time); zero when absent.
	AuthTime time.Time `json:"auth_time,omitzero"`
	// Expiry is the token's exp.
	Expiry time.Time `json:"expiry"`
	// EmailVerified is the email_verified claim (true or "true").
	EmailVerified bool `json:"email_verified"`
	// Nonce is the nonce claim, "" when absent; see CheckNonce.
	Nonce string `json:"nonce,omitempty"`
	// Raw holds every claim of the token as decoded from JSON. It is shared by every Verify of
	// the same token while its signature is remembered: read it, never change it.
	Raw map[string]any `json:"-"`
}

// HasAMR reports whether the token lists the authentication method m.
func (c Claims) HasAMR(m string) bool { return slices.Contains(c.AMR, m) }

// CheckNonce refuses the claims unless their nonce equals want, the nonce the
// client sent in its authorization request (compared in constant time).
func (c Claims) CheckNonce(want string) error {
	if want == "" {
		return refuse(access.ErrNonceMismatch, "no nonce was expected to compare with")
	}
	if subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(want)) != 1 {
		return refuse(access.ErrNonceMismatch, "the token's nonce is not the one sent")
	}
	return nil
}

// mapClaims checks the verified claims against cfg at time now and maps them.
func mapClaims(raw map[string]any, cfg Config, now time.Time) (Claims, error) {
	c := Claims{Raw: raw}
	var err error
	if c.Issuer, err = stringClaim(raw, "iss"); err != nil {
		return Claims{}, err
	}
	if c.Issuer != cfg.Issuer {
		return Claims{}, refuse(access.ErrWrongIssuer, "issued by %q, want %q", c.Issuer, cfg.Issuer)
	}
	if err := checkAudience(raw, cfg.ClientID); err != nil {
		return Claims{}, err
	}
	if err := checkTimes(raw, &c, now, cfg.MaxSkew); err != nil {
		return Claims{}, err
	}
	if err := fillStrings(raw, &c); err != nil {
		return Claims{}, err
	}
	if c.Sub == "" {
		return Claims{}, refuse(access.ErrMissingClaim, "sub is empty")
	}
	if cfg.Mapping.RequireEmailVerified && !c.EmailVerified {
		return Claims{}, refuse(access.ErrEmailNotVerified, "email %q is not verified by the provider", c.Email)
	}
	if c.Subject, err = stringClaim(raw, cfg.Mapping.UserClaim); err != nil {
		return Claims{}, err
	}
	if c.Subject == "" {
		return Claims{}, refuse(access.ErrMissingClaim, "user claim %q is absent or empty", cfg.Mapping.UserClaim)
	}
	if c.Groups, err = stringsClaim(raw, cfg.Mapping.GroupsClaim); err != nil {
		return Claims{}, err
	}
	if c.AMR, err = stringsClaim(raw, "amr"); err != nil {
		return Claims{}, err
	}
	return c, checkAuthStrength(c, cfg.Mapping)
}

// checkAuthStrength applies the mapping's acr and amr requirements.
func checkAuthStrength(c Claims, m ClaimMapping) error {
	if len(m.RequireACR) > 0 && !slices.Contains(m.RequireACR, c.ACR) {
		return refuse(access.ErrInsufficientAuth, "acr %q is not one of the required %v", c.ACR, m.RequireACR)
	}
	for _, method := range m.RequireAMR {
		if !c.HasAMR(method) {
			return refuse(access.ErrInsufficientAuth, "amr %v lacks the required method %q", c.AMR, method)
		}
	}
	return nil
}

// fillStrings copies the optional string and boolean claims into c.
func fillStrings(raw map[string]any, c *Claims) error {
	for _, f := range []struct {
		name string
		dst  *string
	}{{"sub", &c.Sub}, {"email", &c.Email}, {"name", &c.Name}, {"acr", &c.ACR}, {"nonce", &c.Nonce}} {
		v, err := stringClaim(raw, f.name)
		if err != nil {
			return err
		}
		*f.dst = v
	}
	switch v := raw["email_verified"].(type) {
	case nil:
	case bool:
		c.EmailVerified = v
	case string:
		c.EmailVerified = v == "true"
	default:
		return refuse(access.ErrMalformed, "email_verified is a %T", v)
	}
	return nil
}

// checkAudience requires aud to name clientID and, when aud names several
// parties or azp is present, azp to be clientID.
func checkAudience(raw map[string]any, clientID string) error {
	aud, err := stringsClaim(raw, "aud")
	if err != nil {
		return err
	}
	if !slices.Contains(aud, clientID) {
		return refuse(access.ErrWrongAudience, "audience %q does not include %q", aud, clientID)
	}
	azp, err := stringClaim(raw, "azp")
	if err != nil {
		return err
	}
	if len(aud) > 1 && azp == "" {
		return refuse(access.ErrWrongAudience, "token has %d audiences and no azp", len(aud))
	}
	if azp != "" && azp != clientID {
		return refuse(access.ErrWrongAudience, "authorized party (azp) %q is not %q", azp, clientID)
	}
	return nil
}

// checkTimes checks exp, nbf and iat against now with skew and records exp and auth_time.
func checkTimes(raw map[string]any, c *Claims, now time.Time, skew time.Duration) error {
	exp, ok, err := timeClaim(raw, "exp")
	if err != nil {
		return err
	}
	if !ok {
		return refuse(access.ErrMissingClaim, "exp is absent")
	}
	if now.After(exp.Add(skew)) {
		return refuse(access.ErrExpired, "expired at %s, %s ago (allowed skew %s)",
			exp.UTC().Format(time.RFC3339), now.Sub(exp).Round(time.Second), skew)
	}
	c.Expiry = exp
	for _, name := range []string{"nbf", "iat"} {
		t, ok, err := timeClaim(raw, name)
		if err != nil {
			return err
		}
		if name == "iat" && !ok {
			return refuse(access.ErrMissingClaim, "iat is absent")
		}
		if ok && t.After(now.Add(skew)) {
			return refuse(access.ErrNotYetValid, "%s is %s, %s in the future (allowed skew %s)",
				name, t.UTC().Format(time.RFC3339), t.Sub(now).Round(time.Second), skew)
		}
	}
	c.AuthTime, _, err = timeClaim(raw, "auth_time")
	return err
}

// stringClaim returns a string claim, "" when absent.
func stringClaim(raw map[string]any, name string) (string, error) {
	switch v := raw[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", refuse(access.ErrMalformed, "claim %q is a %T, want a string", name, v)
	}
}

// stringsClaim returns a claim that is one string or an array of strings; nil when absent.
func stringsClaim(raw map[string]any, name string) ([]string, error) {
	switch v := raw[name].(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, refuse(access.ErrMalformed, "claim %q[%d] is a %T, want a string", name, i, e)
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, refuse(access.ErrMalformed, "claim %q is a %T, want a string or an array of strings", name, v)
	}
}

// maxNumericDate bounds NumericDate claims so time arithmetic cannot overflow (year 9999).
const maxNumericDate = 253402300799

// timeClaim returns a NumericDate claim (seconds since the epoch); ok is false when absent.
func timeClaim(raw map[string]any, name string) (t time.Time, ok bool, err error) {
	switch v := raw[name].(type) {
	case nil:
		return time.Time{}, false, nil
	case float64:
		if math.IsNaN(v) || v < 0 || v > maxNumericDate {
			return time.Time{}, false, refuse(access.ErrMalformed, "claim %q = %v is not a valid time", name, v)
		}
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(frac*float64(time.Second))), true, nil
	default:
		return time.Time{}, false, refuse(access.ErrMalformed, "claim %q is a %T, want a number", name, v)
	}
}

// String describes the claims for logs without the raw token content.
func (c Claims) String() string {
	return fmt.Sprintf("%s (sub %s, groups %v, amr %v)", c.Subject, c.Sub, c.Groups, c.AMR)
}
