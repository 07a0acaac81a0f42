// Package access is Portcullis's vocabulary: the words every role uses for what a session may
// do and why a request is refused. It owns the Obligations a policy attaches to an allowed
// session, the channel kinds, the encryption level names and their order, the two ticket roles,
// and every refusal code with the one table that maps each code to its HTTP status, its CLI exit
// code and its human message.
//
// It imports only the standard library and must stay so: the Connection Manager, the Connection
// Server, the Host and the Guest all import it, and none of them may pull in another role's
// dependencies (the policy engine above all) through it.
package access
