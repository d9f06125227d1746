package httpserver

import "time"

// SetCertCheckInterval sets how often handshakes check the certificate
// files, until the returned function restores it.
func SetCertCheckInterval(d time.Duration) (restore func()) {
	old := certCheckInterval
	certCheckInterval = d
	return func() { certCheckInterval = old }
}
