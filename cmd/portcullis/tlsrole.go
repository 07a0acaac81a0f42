package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"

	"github.com/portcullis/portcullis/certs"
)

// cmClient is httpsClient for the CM alone: a server whose chain ends at a Portcullis CA must
// show the CM's certificate, not the relays' (certs.RoleCM), whose key every relay holds.
func cmClient(pool *x509.CertPool, clientCerts ...tls.Certificate) *http.Client {
	hc := httpsClient(pool, clientCerts...)
	tr := hc.Transport.(*http.Transport)
	tr.TLSClientConfig = certs.PinRole(tr.TLSClientConfig, certs.RoleCM)
	return hc
}

// checkServerCert refuses to serve as role with the certificate Init issued for the other role.
func checkServerCert(cert tls.Certificate, role certs.ServerRole) error {
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("parse certificate: %w", err)
		}
	}
	return certs.CheckServerCert(leaf, role)
}
