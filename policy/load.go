package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"

	defaultpolicy "github.com/portcullis/portcullis/rego"
)

// File names and suffixes a policy file system is read by.
const (
	regoSuffix      = ".rego"
	testSuffix      = "_test.rego"
	inputSchemaFile = "input.schema.json"
)

// source is a policy file system, read and parsed.
type source struct {
	// modules holds every parsed module by its path in the file system.
	modules map[string]*ast.Module
	// texts holds the raw text of the modules that decide (not the tests), by path.
	texts map[string][]byte
	// schema holds the input schema (input.schema.json, at the root when present) and the
	// decision-log record's (eventSchemaRef).
	schema *ast.SchemaSet
}

// loadSource reads every .rego file of fsys (the _test.rego files too when withTests) and the
// optional input schema, and parses them as Rego v1.
func loadSource(fsys fs.FS, withTests bool) (*source, error) {
	src := &source{modules: map[string]*ast.Module{}, texts: map[string][]byte{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		isTest := strings.HasSuffix(p, testSuffix)
		if d.IsDir() || path.Ext(p) != regoSuffix || (isTest && !withTests) {
			return nil
		}
		return src.addModule(fsys, p, isTest)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	if len(src.texts) == 0 {
		return nil, fmt.Errorf("%w: no %s modules besides tests", ErrInvalidPolicy, regoSuffix)
	}
	if err := src.loadSchema(fsys); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	return src, nil
}

func (s *source) addModule(fsys fs.FS, p string, isTest bool) error {
	text, err := fs.ReadFile(fsys, p)
	if err != nil {
		return err
	}
	m, err := ast.ParseModuleWithOpts(p, string(text), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
	if err != nil {
		return err
	}
	s.modules[p] = m
	if !isTest {
		s.texts[p] = text
	}
	return nil
}

func (s *source) loadSchema(fsys fs.FS) error {
	s.schema = ast.NewSchemaSet()
	raw, err := fs.ReadFile(fsys, inputSchemaFile)
	if errors.Is(err, fs.ErrNotExist) {
		s.schema.Put(eventSchemaRef, eventSchema(map[string]any{"type": "object"}))
		return nil
	}
	if err != nil {
		return err
	}
	var schema any
	if err := json.Unmarshal(raw, &schema); err != nil {
		return fmt.Errorf("%s: %w", inputSchemaFile, err)
	}
	s.schema.Put(ast.SchemaRootRef, schema)
	s.schema.Put(eventSchemaRef, eventSchema(schema))
	return nil
}

// newCompiler returns the compiler for src's modules, as the engine and the tests compile
// them: Rego v1, strict, type-checked against the input schema when there is one, with caps
// (nil: every builtin of this OPA version).
func (s *source) newCompiler(caps *ast.Capabilities) *ast.Compiler {
	c := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithStrict(true).WithUseTypeCheckAnnotations(true)
	if caps != nil {
		c = c.WithCapabilities(caps)
	}
	if s.schema != nil {
		c = c.WithSchemas(s.schema)
	}
	return c
}

// WithDefaultSchema returns fsys, with the embedded default policy's input.schema.json (the
// input the Connection Manager builds) in place when fsys has none, so that a policy is never
// compiled without the input type check: a Manager reads every candidate, directory or
// bundle, through it.
func WithDefaultSchema(fsys fs.FS) fs.FS {
	if _, err := fs.Stat(fsys, inputSchemaFile); !errors.Is(err, fs.ErrNotExist) {
		return fsys // present, or unreadable: loadSchema reports that
	}
	raw, err := fs.ReadFile(defaultpolicy.Files(), inputSchemaFile)
	if err != nil {
		return fsys // unreachable: the schema is embedded
	}
	return schemaOverlay{FS: fsys, schema: fstest.MapFS{inputSchemaFile: {Data: raw}}}
}

// schemaOverlay is a policy file system with an input schema added at its root.
type schemaOverlay struct {
	fs.FS
	schema fstest.MapFS
}

// Open opens the added schema, or any other file of the policy.
func (o schemaOverlay) Open(name string) (fs.File, error) {
	if name == inputSchemaFile {
		return o.schema.Open(name)
	}
	return o.FS.Open(name)
}

// eventSchemaRef names the schema of a decision-log record, the input of the mask rule:
// annotate a mask module with "schemas: - input: schema.decision_log_event".
var eventSchemaRef = ast.MustParseRef("schema.decision_log_event")

// eventSchema is the JSON schema of a decision-log record whose input has inputSchema.
func eventSchema(inputSchema any) map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"decision_id": map[string]any{"type": "string"},
			"path":        map[string]any{"type": "string"},
			"input":       inputSchema,
			"result":      map[string]any{"type": "object"},
		},
	}
}

// revision is the sha256 (hex) over the deciding modules in path order, each as its path,
// a NUL byte, its text and a NUL byte; tests and the schema do not change it.
func (s *source) revision() string {
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(s.texts)) {
		h.Write([]byte(p))
		h.Write([]byte{0})
		h.Write(s.texts[p])
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// definesRule reports whether a deciding module of package pkg (e.g. data.portcullis.authz)
// defines the rule.
func (s *source) definesRule(pkg, rule string) bool {
	for p, m := range s.modules {
		if _, deciding := s.texts[p]; !deciding || m.Package.Path.String() != pkg {
			continue
		}
		for _, r := range m.Rules {
			if r.Head.Ref().String() == rule {
				return true
			}
		}
	}
	return false
}
