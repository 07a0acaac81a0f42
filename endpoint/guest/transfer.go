package guest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/endpoint"
)

// File transfer over SFTP (github.com/pkg/sftp). A file is always written under a temporary
// name beside its destination (".NAME.portcullis-XXXXXXXX") and renamed over the final name
// only once complete, on the Host and on the Guest alike: an interrupted transfer never leaves
// a half-written file under the final name (the temporary one is removed when possible).

// ErrBadCopy reports a copy request that cannot be carried out (both sides local, a directory
// without -r, ...).
var ErrBadCopy = errors.New("guest: bad copy")

// tempPrefix and tempSuffix frame the name a file is written under until it is complete.
const tempPrefix, tempSuffix = ".", ".portcullis-"

// Location is one side of a copy: a path on the Guest or, when Host is set, on that Host.
type Location struct {
	// Host names the Host the path is on; "" for a path on the Guest.
	Host string
	// Path is the file or directory.
	Path string
}

// Progress is told about each file as it is copied: its name, its size and the bytes done so
// far (called often; it must be cheap).
type Progress func(name string, done, size int64)

// Copier copies files between the Guest and a Host over one SSH connection.
type Copier struct {
	// Client is the SFTP client on the session.
	Client *sftp.Client
	// Recursive copies directories and everything below them.
	Recursive bool
	// Progress, when set, follows every file's progress.
	Progress Progress
	// RequestSize is the most file data one SFTP request carries (set by NewCopier).
	RequestSize int
}

// NewCopier starts the SFTP subsystem on c; close the Copier's Client when done. Each request
// carries at most what the Host announces it reads per request (endpoint.SFTPPacketRequest,
// asked while the subsystem starts), or endpoint.SFTPPacketMax from a Host that announces
// nothing: pkg/sftp uses one size for reads and writes, and its concurrent reads take a short
// answer for the whole chunk (the file would arrive with holes cut out). Requests are written
// whole: one that fits travels in one SSH packet.
func NewCopier(c *ssh.Client, recursive bool, progress Progress) (*Copier, error) {
	sizeCh := make(chan sizeAnswer, 1)
	go func() { sizeCh <- requestSize(c) }()
	s, r, w, err := startSFTP(c)
	size := <-sizeCh
	if err == nil {
		err = size.err
	}
	var client *sftp.Client
	if err == nil {
		client, err = sftp.NewClientPipe(r, endpoint.WholeSFTPPackets(w, endpoint.ToChannel), clientOptions(size.n)...)
	}
	if err != nil {
		if s != nil {
			_ = s.Close()
		}
		return nil, fmt.Errorf("guest: start sftp: %w", err)
	}
	return &Copier{Client: client, Recursive: recursive, Progress: progress, RequestSize: size.n}, nil
}

// sizeAnswer is the request size the Host allows, or why it is unknown.
type sizeAnswer struct {
	n   int
	err error
}

// requestSize asks the Host how much file data its SFTP server answers one read with.
func requestSize(c *ssh.Client) sizeAnswer {
	ok, payload, err := c.SendRequest(endpoint.SFTPPacketRequest, true, nil)
	switch {
	case err != nil:
		return sizeAnswer{err: err}
	case !ok:
		return sizeAnswer{n: endpoint.SFTPPacketMax} // a Host that does not announce
	}
	n, err := endpoint.ParseSFTPPacketAnswer(payload)
	return sizeAnswer{n: n, err: err}
}

// requestsInFlight bounds the file data of one file's requests in flight: twice an SSH
// channel's window (2 MiB), so that the window, not the requests, limits a transfer.
const requestsInFlight = 4 << 20

// clientOptions configures pkg/sftp's client for requests of size bytes: up to 64 of them in
// flight (pkg/sftp's default) for small requests, fewer for large ones (requestsInFlight).
func clientOptions(size int) []sftp.ClientOption {
	return []sftp.ClientOption{
		sftp.MaxPacketUnchecked(size),
		sftp.MaxConcurrentRequestsPerFile(min(64, requestsInFlight/size)),
	}
}

// startSFTP starts the sftp subsystem in a new session of c (as sftp.NewClient does) and
// returns the session and its pipes; the session ends with the client (or with c).
func startSFTP(c *ssh.Client) (*ssh.Session, io.Reader, io.WriteCloser, error) {
	s, err := c.NewSession()
	if err != nil {
		return nil, nil, nil, err
	}
	w, err := s.StdinPipe()
	if err != nil {
		return s, nil, nil, err
	}
	r, err := s.StdoutPipe()
	if err != nil {
		return s, nil, nil, err
	}
	return s, r, w, s.RequestSubsystem("sftp")
}

// Upload copies the local path src to dst on the Host. When dst is an existing directory,
// src goes inside it under its own name.
func (c *Copier) Upload(ctx context.Context, src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("guest: %w", err)
	}
	if rst, err := c.Client.Stat(dst); err == nil && rst.IsDir() {
		dst = path.Join(dst, filepath.Base(src))
	}
	if !st.IsDir() {
		return c.uploadFile(ctx, src, dst, st)
	}
	if !c.Recursive {
		return fmt.Errorf("%w: %s is a directory (use -r)", ErrBadCopy, src)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := path.Join(dst, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := c.Client.MkdirAll(target); err != nil {
				return fmt.Errorf("guest: mkdir %s on the Host: %w", target, err)
			}
			return nil
		case info.Mode().IsRegular():
			return c.uploadFile(ctx, p, target, info)
		default:
			return nil // sockets, devices and symbolic links are not copied
		}
	})
}

// uploadFile writes one file on the Host under a temporary name, then renames it.
func (c *Copier) uploadFile(ctx context.Context, src, dst string, st fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("guest: %w", err)
	}
	defer in.Close()
	tmp := tempName(dst, path.Dir, path.Base, path.Join)
	out, err := c.Client.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("guest: create %s on the Host: %w", tmp, err)
	}
	err = c.upload(ctx, out, in, dst, st.Size())
	if err == nil {
		err = out.Chmod(st.Mode().Perm())
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = c.Client.PosixRename(tmp, dst)
	}
	if err != nil {
		_ = c.Client.Remove(tmp)
		return fmt.Errorf("guest: upload %s to %s: %w", src, dst, err)
	}
	return nil
}

// Download copies src on the Host to the local path dst. When dst is an existing directory,
// src goes inside it under its own name (its contents do, when src is ".", ".." or "/"). The
// names of the files below a directory come from the Host and are not trusted: an entry whose
// name is not exactly one file name here (ErrUnsafeName: "..", a separator, a Windows device,
// ...) is skipped, and named in the error returned once the rest is copied.
func (c *Copier) Download(ctx context.Context, src, dst string) error {
	st, err := c.Client.Stat(src)
	if err != nil {
		return fmt.Errorf("guest: %s on the Host: %w", src, err)
	}
	if lst, err := os.Stat(dst); err == nil && lst.IsDir() {
		switch base := path.Base(src); base {
		case ".", "..", "/": // a directory named without a name of its own
		default:
			if dst, err = joinLocal(dst, base); err != nil {
				return fmt.Errorf("guest: download %s: %w", src, err)
			}
		}
	}
	if !st.IsDir() {
		return c.downloadFile(ctx, src, dst, st)
	}
	if !c.Recursive {
		return fmt.Errorf("%w: %s is a directory (use -r)", ErrBadCopy, src)
	}
	var skipped []error
	if err := c.downloadDir(ctx, src, dst, &skipped); err != nil {
		return err
	}
	return errors.Join(skipped...)
}

// downloadDir copies the Host's directory src and everything below it into the local
// directory dst, which it creates. It adds to skipped why it skipped each entry whose name
// from the Host is not one file name in dst. Symbolic links, sockets and devices are not
// copied.
func (c *Copier) downloadDir(ctx context.Context, src, dst string, skipped *[]error) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("guest: %w", err)
	}
	list, err := c.Client.ReadDir(src)
	if err != nil {
		return fmt.Errorf("guest: list %s on the Host: %w", src, err)
	}
	for _, info := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		target, err := joinLocal(dst, info.Name())
		if err != nil {
			*skipped = append(*skipped, fmt.Errorf("guest: skipped an entry of %s on the Host: %w", src, err))
			continue
		}
		from := path.Join(src, info.Name())
		switch {
		case info.IsDir():
			err = c.downloadDir(ctx, from, target, skipped)
		case info.Mode().IsRegular():
			err = c.downloadFile(ctx, from, target, info)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// downloadFile writes one local file under a temporary name, then renames it.
func (c *Copier) downloadFile(ctx context.Context, src, dst string, st fs.FileInfo) error {
	in, err := c.Client.Open(src)
	if err != nil {
		return fmt.Errorf("guest: open %s on the Host: %w", src, err)
	}
	defer in.Close()
	tmp := tempName(dst, filepath.Dir, filepath.Base, filepath.Join)
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm()|0o200)
	if err != nil {
		return fmt.Errorf("guest: %w", err)
	}
	err = c.download(ctx, out, in, src, st.Size())
	if err == nil {
		err = out.Chmod(st.Mode().Perm())
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("guest: download %q to %q: %w", src, dst, err)
	}
	return nil
}

// progress counts one file's bytes for the Progress callback and stops the copy when ctx
// ends: it wraps the local side of a transfer (the writer of a download, the reader of an
// upload), while the SFTP side keeps many requests in flight.
type progress struct {
	ctx  context.Context
	c    *Copier
	name string
	size int64
	done int64
	r    io.Reader
	w    io.Writer
}

func (c *Copier) track(ctx context.Context, name string, size int64) *progress {
	p := &progress{ctx: ctx, c: c, name: name, size: size}
	p.report(0)
	return p
}

func (p *progress) report(n int) {
	p.done += int64(n)
	if p.c.Progress != nil {
		p.c.Progress(p.name, p.done, p.size)
	}
}

// Read reads the local file of an upload.
func (p *progress) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	if n > 0 {
		p.report(n)
	}
	return n, err
}

// Write writes the local file of a download.
func (p *progress) Write(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.w.Write(b)
	if n > 0 {
		p.report(n)
	}
	return n, err
}

// upload copies in to the Host's file out with up to the client's maximum of concurrent
// SFTP writes (one write at a time would wait a round trip for each 32 KiB).
func (c *Copier) upload(ctx context.Context, out *sftp.File, in io.Reader, name string, size int64) error {
	p := c.track(ctx, name, size)
	p.r = in
	_, err := out.ReadFromWithConcurrency(p, 0)
	return err
}

// download copies the Host's file in to out with concurrent SFTP reads (written in order).
func (c *Copier) download(ctx context.Context, out io.Writer, in *sftp.File, name string, size int64) error {
	p := c.track(ctx, name, size)
	p.w = out
	_, err := in.WriteTo(p)
	return err
}

// tempName is the temporary name beside final, built with the path functions of its side.
func tempName(final string, dir, base func(string) string, join func(...string) string) string {
	return join(dir(final), tempPrefix+base(final)+tempSuffix+rand.Text()[:8])
}
