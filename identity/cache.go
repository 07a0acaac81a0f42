package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/portcullis/portcullis/internal/atomicfile"
	"github.com/portcullis/portcullis/internal/privatedir"
)

// Token cache limits and names.
const (
	// MaxCacheFileBytes bounds a token cache file read by Load (64 KiB).
	MaxCacheFileBytes = 64 << 10
	// cacheDirName is the directory under os.UserConfigDir() used when TokenCache.Dir is empty.
	cacheDirName = "portcullis"
	// cacheFileMode keeps tokens readable by their owner only; the directory is private too
	// (internal/privatedir: mode 0700, or an owner-only access list on Windows).
	cacheFileMode = 0o600
)

// ErrNotCached: no token is cached for this Connection Manager URL.
var ErrNotCached = errors.New("identity: no cached token")

// TokenCache keeps one Token per Connection Manager URL, each in its own
// JSON file (mode 0600) named after a hash of the URL.
type TokenCache struct {
	// Dir holds the files; "" means os.UserConfigDir()/portcullis.
	Dir string
}

// cacheFile is the on-disk form: the URL is kept so that Load can tell a
// file written for another URL.
type cacheFile struct {
	CMURL string `json:"cm_url"`
	Token *Token `json:"token"`
}

// Path returns the file that holds the token for cmURL.
func (c TokenCache) Path(cmURL string) (string, error) {
	return c.File(cmURL, "token", ".json")
}

// File returns the path of another per-CM file in the cache's directory, named
// prefix-<hash of cmURL><ext>, e.g. a key or certificate kept beside the token.
func (c TokenCache) File(cmURL, prefix, ext string) (string, error) {
	dir := c.Dir
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("identity: token cache directory: %w", err)
		}
		dir = filepath.Join(base, cacheDirName)
	}
	sum := sha256.Sum256([]byte(cmURL))
	return filepath.Join(dir, prefix+"-"+hex.EncodeToString(sum[:16])+ext), nil
}

// Save writes t for cmURL, replacing any earlier token atomically.
func (c TokenCache) Save(cmURL string, t *Token) error {
	if t == nil {
		return errors.New("identity: save: nil token")
	}
	path, err := c.Path(cmURL)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(cacheFile{CMURL: cmURL, Token: t}, "", "  ")
	if err != nil {
		return fmt.Errorf("identity: encode token: %w", err)
	}
	if err := privatedir.Make(filepath.Dir(path)); err != nil {
		return fmt.Errorf("identity: token cache directory: %w", err)
	}
	if err := atomicfile.Write(path, data, cacheFileMode); err != nil {
		return fmt.Errorf("identity: token cache: %w", err)
	}
	return nil
}

// Load returns the token saved for cmURL; ErrNotCached (also matching
// fs.ErrNotExist) when there is none.
func (c TokenCache) Load(cmURL string) (*Token, error) {
	path, err := c.Path(cmURL)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w for %s: %w", ErrNotCached, cmURL, err)
		}
		return nil, fmt.Errorf("identity: open token cache: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxCacheFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("identity: read %s: %w", path, err)
	}
	return decodeCacheFile(data, cmURL, path)
}

// Delete removes the token saved for cmURL; no error when there is none.
func (c TokenCache) Delete(cmURL string) error {
	path, err := c.Path(cmURL)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("identity: delete cached token: %w", err)
	}
	return nil
}

// decodeCacheFile parses a cache file's content written for cmURL.
func decodeCacheFile(data []byte, cmURL, path string) (*Token, error) {
	if len(data) > MaxCacheFileBytes {
		return nil, fmt.Errorf("identity: %s is larger than %d bytes", path, MaxCacheFileBytes)
	}
	var cf cacheFile
	if err := json.Unmarshal(data, &cf); err != nil {
		return nil, fmt.Errorf("identity: decode %s: %w", path, err)
	}
	if cf.CMURL != cmURL || cf.Token == nil {
		return nil, fmt.Errorf("%w for %s: %s holds a token for %q", ErrNotCached, cmURL, path, cf.CMURL)
	}
	return cf.Token, nil
}
