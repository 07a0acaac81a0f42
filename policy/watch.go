package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long a watched policy must stay quiet after a change before it is
// read, when ManagerConfig.Debounce is zero: an editor saves in several writes (a temporary
// file, a rename, a chmod), and reading between them would refuse a half-written policy.
const DefaultDebounce = 100 * time.Millisecond

// Notifier is a Source that announces each roll-out of a new policy.
type Notifier interface {
	// Changed returns a channel closed when a policy other than the one serving at the call
	// rolls out; call it again after each close.
	Changed() <-chan struct{}
}

// Changed returns a channel closed at the next roll-out of a new policy.
func (m *Manager) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// announce wakes the waiters of Changed; m.mu is held.
func (m *Manager) announce() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// Run keeps the policy current until ctx ends, rolling out good changes: it watches the policy
// directory (every subdirectory too) or the bundle file with the operating system's file
// notifications and reads the policy once it has been quiet for Debounce after a change; and it
// also looks every PollInterval, a safety net for file systems that do not notify (NFS, some
// container mounts) and for a watch that could not start. A bundle service is polled every
// PollInterval, with the last ETag (an unchanged bundle is a 304). The embedded policy never
// changes, so Run only waits then.
func (m *Manager) Run(ctx context.Context) error {
	if m.cfg.origin() == OriginEmbedded {
		<-ctx.Done()
		return nil
	}
	poll := time.NewTicker(m.cfg.PollInterval)
	defer poll.Stop()
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	var w *watch
	warned := false // a watch that cannot start is reported once, not at every poll
	watchAgain := func() {
		var err error
		w, err = m.startWatch()
		if err != nil && !warned {
			m.cfg.Logger.Warn("cannot watch the policy for changes; polling only", "location", m.cfg.location(),
				"poll_interval", m.cfg.PollInterval, "err", err)
		}
		warned = err != nil
		m.setWatching(w != nil)
	}
	stopWatch := func() { w.close(); w = nil; m.setWatching(false) }
	defer func() { stopWatch() }()
	watchAgain()
	// A change made after NewManager read the policy but before the watch began.
	_, _ = m.Reload(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			if w == nil {
				watchAgain()
			}
			_, _ = m.Reload(ctx) // a refusal is logged and kept in Status
		case ev, ok := <-w.events():
			switch {
			case !ok || w.lost(ev):
				stopWatch() // the watched directory went away; the next poll watches again
				quiet.Reset(m.cfg.Debounce)
			case w.relevant(ev):
				w.follow(ev)
				quiet.Reset(m.cfg.Debounce)
			}
		case err, ok := <-w.errors():
			if !ok {
				stopWatch()
				continue
			}
			// Events may have been lost (a queue overflow): read the policy to be sure.
			m.cfg.Logger.Warn("policy file watch", "location", m.cfg.location(), "err", err)
			quiet.Reset(m.cfg.Debounce)
		case <-quiet.C:
			_, _ = m.Reload(ctx)
		}
	}
}

func (m *Manager) setWatching(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status.Watching = on
}

// startWatch watches the policy's files; nil (and no error) for a bundle service, which is
// polled.
func (m *Manager) startWatch() (*watch, error) {
	if m.fetcher != nil {
		return nil, nil
	}
	return newWatch(m.cfg.Dir, m.cfg.Bundle)
}

// watch is a file-system watch on a policy directory tree or on one bundle file. A nil *watch
// watches nothing: its channels are nil, so a select never picks them.
type watch struct {
	w *fsnotify.Watcher
	// root is the directory watched: the policy directory, or the bundle file's directory.
	root string
	// file is the bundle file watched (through its directory, so that a file replaced by a
	// rename is still seen); empty for a policy directory.
	file string
}

// newWatch watches the directory dir and every directory under it, or the bundle file.
func newWatch(dir, bundle string) (*watch, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("policy: watch: %w", err)
	}
	w := &watch{w: fw, root: filepath.Clean(dir)}
	if bundle != "" {
		w.file = filepath.Clean(bundle)
		w.root = filepath.Dir(w.file)
		err = fw.Add(w.root)
	} else {
		err = w.addTree(w.root)
	}
	if err != nil {
		_ = fw.Close()
		return nil, fmt.Errorf("policy: watch: %w", err)
	}
	return w, nil
}

// addTree watches root and every directory under it.
func (w *watch) addTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != root {
				return nil // removed while walking
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		return w.w.Add(p)
	})
}

func (w *watch) events() <-chan fsnotify.Event {
	if w == nil {
		return nil
	}
	return w.w.Events
}

func (w *watch) errors() <-chan error {
	if w == nil {
		return nil
	}
	return w.w.Errors
}

// lost reports whether ev removed or renamed the watched directory itself: the watch hears
// nothing more, even of a directory made again under the same name.
func (w *watch) lost(ev fsnotify.Event) bool {
	return filepath.Clean(ev.Name) == w.root && ev.Has(fsnotify.Remove|fsnotify.Rename)
}

// relevant reports whether ev may have changed the policy: any change but a bare change of
// mode, to the bundle file or anywhere in the directory tree.
func (w *watch) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	return w.file == "" || filepath.Clean(ev.Name) == w.file
}

// follow watches a directory created in the policy tree (and those already under it); a
// failure leaves it to the poll.
func (w *watch) follow(ev fsnotify.Event) {
	if w.file != "" || !ev.Has(fsnotify.Create) {
		return
	}
	if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
		_ = w.addTree(ev.Name)
	}
}

func (w *watch) close() {
	if w != nil {
		_ = w.w.Close()
	}
}
