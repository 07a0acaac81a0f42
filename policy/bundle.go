package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// DefaultBundleAlgorithm is the signing algorithm BundleVerification and BundleSigning assume
// when none is set: ECDSA P-384 with SHA-384, the keys GenerateBundleKey makes.
const DefaultBundleAlgorithm = "ES384"

// Bounds of a bundle the CM reads. OPA's reader buffers every file of the archive before it
// checks any against the signature, so these hold for unsigned bytes from anywhere.
const (
	// maxBundleBytes bounds a bundle as downloaded (compressed), and each file in it
	// (uncompressed, as its tar header claims and as read).
	maxBundleBytes = 64 << 20
	// maxBundleInflatedBytes bounds the whole archive uncompressed, every file and tar header
	// together: a gzip bomb within maxBundleBytes compressed inflates a thousandfold.
	maxBundleInflatedBytes = 128 << 20
)

// Errors of a bundle ReadBundle refuses; check them with errors.Is. Both come wrapped with
// ErrInvalidPolicy or ErrBundleSignature as well.
var (
	// ErrBundleSignature: the bundle is unsigned, or its signature or file hashes do not verify.
	ErrBundleSignature = errors.New("policy: bundle signature does not verify")
	// ErrBundleTooLarge: a file of the bundle, or the bundle uncompressed, is larger than the
	// CM reads (maxBundleBytes per file, maxBundleInflatedBytes in all).
	ErrBundleTooLarge = errors.New("policy: bundle too large")
)

// BundleVerification is how a bundle's signature (OPA's .signatures.json) is checked.
type BundleVerification struct {
	// KeyID names the key the signature must be made with (the JWT's "kid"); required.
	KeyID string
	// Key is the PEM public key (ES*, RS*, PS*) or the shared secret (HS*); required.
	Key string
	// Algorithm is the JWS algorithm; default DefaultBundleAlgorithm.
	Algorithm string
	// Scope, when set, must equal the signature's "scope" claim.
	Scope string
}

// Validate reports every missing field at once.
func (v BundleVerification) Validate() error {
	var errs []error
	if v.KeyID == "" {
		errs = append(errs, errors.New("policy: a bundle needs a verification key id"))
	}
	if v.Key == "" {
		errs = append(errs, errors.New("policy: a bundle needs a verification key"))
	}
	return errors.Join(errs...)
}

// BundleSchemaKey is the key of the bundle manifest's metadata that carries the policy's
// input.schema.json, signed with the rest of the manifest.
const BundleSchemaKey = "input_schema"

// ReadBundle reads an OPA bundle (.tar.gz), verifies its signature with v and returns its
// Rego modules, and its input schema as input.schema.json when the manifest carries one
// (BundleSchemaKey), as a file system New and Test read, and the manifest's revision.
// Unsigned bundles, bundles signed with another key or key id, and bundles whose files do not
// match their signed hashes are refused with ErrBundleSignature; bundles with a file larger
// than 64 MiB, or larger than 128 MiB uncompressed in all, with ErrBundleTooLarge.
func ReadBundle(raw []byte, v BundleVerification) (fs.FS, string, error) {
	if err := v.Validate(); err != nil {
		return nil, "", err
	}
	if err := checkBundleSize(raw, maxBundleBytes, maxBundleInflatedBytes); err != nil {
		return nil, "", fmt.Errorf("%w: bundle: %w", ErrInvalidPolicy, err)
	}
	keys := map[string]*bundle.KeyConfig{v.KeyID: {Key: v.Key, Algorithm: orDefault(v.Algorithm, DefaultBundleAlgorithm), Scope: v.Scope}}
	b, err := readBundle(raw, bundle.NewVerificationConfig(keys, v.KeyID, v.Scope, nil))
	if err != nil {
		// Tell a bad signature from a bad bundle: read it again without verifying.
		if _, unverified := readBundle(raw, nil); unverified == nil {
			return nil, "", fmt.Errorf("%w: %w", ErrBundleSignature, err)
		}
		return nil, "", fmt.Errorf("%w: bundle: %w", ErrInvalidPolicy, err)
	}
	fsys := fstest.MapFS{}
	for _, m := range b.Modules {
		fsys[strings.TrimPrefix(m.Path, "/")] = &fstest.MapFile{Data: m.Raw}
	}
	if schema, ok := b.Manifest.Metadata[BundleSchemaKey]; ok {
		if _, isObject := schema.(map[string]any); !isObject {
			return nil, "", fmt.Errorf("%w: bundle: manifest metadata %q is not a JSON schema object", ErrInvalidPolicy, BundleSchemaKey)
		}
		raw, err := json.Marshal(schema)
		if err != nil {
			return nil, "", fmt.Errorf("%w: bundle: manifest metadata %q: %w", ErrInvalidPolicy, BundleSchemaKey, err)
		}
		fsys[inputSchemaFile] = &fstest.MapFile{Data: raw}
	}
	return fsys, b.Manifest.Revision, nil
}

// readBundle reads a bundle, verifying its signature with vc unless vc is nil.
func readBundle(raw []byte, vc *bundle.VerificationConfig) (bundle.Bundle, error) {
	// The loader needs the limit of its own: it allocates what a tar header claims.
	loader := bundle.NewTarballLoaderWithBaseURL(bytes.NewReader(raw), "").WithSizeLimitBytes(maxBundleBytes)
	r := bundle.NewCustomReader(loader).
		WithRegoVersion(ast.RegoV1).
		WithSizeLimitBytes(maxBundleBytes)
	if vc == nil {
		r = r.WithSkipBundleVerification(true)
	} else {
		r = r.WithBundleVerificationConfig(vc)
	}
	return r.Read()
}

// checkBundleSize reads the bundle's archive once, before OPA's reader buffers it, and
// refuses a file whose tar header claims more than perFile bytes and an archive that inflates
// to more than total bytes; a malformed archive is refused too.
func checkBundleSize(raw []byte, perFile, total int64) error {
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(&inflateLimit{r: gz, left: total, total: total})
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		if h.Size > perFile {
			return fmt.Errorf("%w: %s claims %d bytes, over the limit of %d bytes a file", ErrBundleTooLarge, h.Name, h.Size, perFile)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return fmt.Errorf("archive: %s: %w", h.Name, err)
		}
	}
}

// inflateLimit reads a decompressed stream and fails with ErrBundleTooLarge once it goes
// past total bytes.
type inflateLimit struct {
	r     io.Reader
	left  int64 // bytes still allowed
	total int64
}

// Read reads from r, at most left bytes more, then only its end.
func (l *inflateLimit) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var probe [1]byte
		if n, err := io.ReadFull(l.r, probe[:]); n == 0 && errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("%w: it inflates to more than %d bytes", ErrBundleTooLarge, l.total)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// BundleSigning is how WriteBundle signs a bundle.
type BundleSigning struct {
	// KeyID is put in the signature's "kid"; required.
	KeyID string
	// Key is the PEM private key (RS*, PS*, ES*) or the shared secret (HS*); required.
	Key string
	// Algorithm is the JWS algorithm; default DefaultBundleAlgorithm.
	Algorithm string
}

// WriteBundle writes the .rego modules of fsys (tests included, so that the CM can run them
// before rolling the bundle out) and its input.schema.json, when it has one, in the manifest's
// metadata (BundleSchemaKey, so that the CM type-checks the bundle as it does a directory) as
// an OPA bundle with this revision, signed with s.
func WriteBundle(w io.Writer, fsys fs.FS, revision string, s BundleSigning) error {
	if s.KeyID == "" || s.Key == "" {
		return errors.New("policy: signing a bundle needs a key and a key id")
	}
	b := bundle.Bundle{Manifest: bundle.Manifest{Revision: revision}, Data: map[string]any{}}
	switch raw, err := fs.ReadFile(fsys, inputSchemaFile); {
	case err == nil:
		var schema map[string]any
		if err := json.Unmarshal(raw, &schema); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidPolicy, inputSchemaFile, err)
		}
		if schema == nil {
			return fmt.Errorf("%w: %s is not a JSON object", ErrInvalidPolicy, inputSchemaFile)
		}
		b.Manifest.Metadata = map[string]any{BundleSchemaKey: schema}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != regoSuffix {
			return err
		}
		raw, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		parsed, err := ast.ParseModuleWithOpts(p, string(raw), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return err
		}
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: "/" + p, Path: "/" + p, Raw: raw, Parsed: parsed})
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	b.Manifest.Init()
	if err := b.GenerateSignature(bundle.NewSigningConfig(s.Key, orDefault(s.Algorithm, DefaultBundleAlgorithm), ""), s.KeyID, false); err != nil {
		return fmt.Errorf("policy: sign bundle: %w", err)
	}
	if err := bundle.NewWriter(w).DisableFormat(true).Write(b); err != nil {
		return fmt.Errorf("policy: write bundle: %w", err)
	}
	return nil
}

// GenerateBundleKey makes an ECDSA P-384 key pair for signing bundles (ES384): the PEM private
// key for WriteBundle and the PEM public key for BundleVerification.
func GenerateBundleKey() (private, public []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: generate bundle key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: encode bundle key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: encode bundle key: %w", err)
	}
	private = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	return private, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}
