package api

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// CheckRelayAddr refuses a relay address (RelayRegistration.Addr) that Guests and Hosts could
// not dial: it must be host:port, with a host and a port number in 1..65535.
func CheckRelayAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && host == "" {
		err = errors.New("no host")
	}
	if err == nil {
		if n, perr := strconv.ParseUint(port, 10, 16); perr != nil || n == 0 {
			err = fmt.Errorf("port %q is not a number in 1..65535", port)
		}
	}
	return err
}

// CheckRelayHTTPAddr refuses a relay's HTTP fallback address (RelayRegistration.HTTPAddr)
// that is not a base URL: an absolute http or https URL with a host, without a query or
// fragment.
func CheckRelayHTTPAddr(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		return errors.New("no host")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("a base URL has no query or fragment")
	}
	return nil
}
