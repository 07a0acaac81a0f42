// Package atomicfile is the one way Portcullis replaces a file: key files, certificates, the
// Guest's token and credential caches, the Host's state and password files, policy bundles.
// A reader sees the old file or the new one, never a part, and the new file has exactly the
// mode asked for, whatever the umask.
package atomicfile
