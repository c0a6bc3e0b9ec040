package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxConfigFileBytes keeps a wrong --config (a data file, a device) from
// being read whole.
const maxConfigFileBytes = 1 << 20

// LoadFile applies the settings in the YAML file at path on top of c.
func (c *Config) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: config file: %w", ErrConfig, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFileBytes+1))
	if err != nil {
		return fmt.Errorf("%w: read config file %s: %w", ErrConfig, path, err)
	}
	if len(data) > maxConfigFileBytes {
		return fmt.Errorf("%w: config file %s is larger than %s", ErrConfig, path, ByteSize(maxConfigFileBytes))
	}
	if err := c.decodeYAML(data); err != nil {
		return fmt.Errorf("%w: %s:%w", ErrConfig, path, err)
	}
	return nil
}

// yamlLinePrefix is how yaml.v3 starts its messages; the caller already
// names the line, so it is cut.
var yamlLinePrefix = regexp.MustCompile(`^(yaml: )?(unmarshal errors:\s*)?(line \d+: )?`)

// decodeYAML sets the fields named in data. Errors start with the line
// (":12: ...") so that the caller can prefix the file name. Keys are decoded
// one by one so that a wrong value names its key, and unknown keys are
// errors: a misspelt setting must not silently fall back to its default.
func (c *Config) decodeYAML(data []byte) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: nothing to override
		}
		return fmt.Errorf("%d: %s", yamlErrorLine(err), trimYAMLError(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%d: only one YAML document is allowed", extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%d: the file must be a mapping of settings (key: value), not a %s", root.Line, nodeKind(root))
	}
	fields := yamlFields(c)
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			return fmt.Errorf("%d: key %q is already set on line %d", k.Line, k.Value, prev)
		}
		seen[k.Value] = k.Line
		field, ok := fields[k.Value]
		if !ok {
			return fmt.Errorf("%d: unknown key %q%s", k.Line, k.Value, suggestKey(k.Value, fields))
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue // "key:" with no value keeps the default
		}
		if line, err := decodeStrict(v, field.Addr().Interface()); err != nil {
			return fmt.Errorf("%d: %s: %s", line, k.Value, trimYAMLError(err))
		}
	}
	return nil
}

// decodeStrict decodes one value and returns the line of an error. In
// mappings (databases, accounts) unknown keys are errors too: yaml.Node.Decode
// cannot refuse them, so a nested value is re-encoded and decoded with
// KnownFields, and the error's line is shifted back to the file's numbering.
func decodeStrict(v *yaml.Node, out any) (int, error) {
	if v.Kind == yaml.ScalarNode {
		return v.Line, v.Decode(out)
	}
	text, err := yaml.Marshal(v)
	if err != nil {
		return v.Line, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return yamlErrorLine(err) + v.Line - 1, err
	}
	return v.Line, nil
}

// yamlFields maps each YAML key of c to its field, with the keys of
// inlined structs (DistConfig) at the top level.
func yamlFields(c *Config) map[string]reflect.Value {
	out := map[string]reflect.Value{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			tag, opts, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
			switch {
			case tag == "" && opts == "inline":
				walk(v.Field(i))
			case tag != "" && tag != "-":
				out[tag] = v.Field(i)
			}
		}
	}
	walk(reflect.ValueOf(c).Elem())
	return out
}

// suggestKey names the known key closest to an unknown one, or lists them all.
func suggestKey(key string, fields map[string]reflect.Value) string {
	best, bestDist := "", 3
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
		if d := editDistance(key, name); d < bestDist || (d == bestDist && name < best) {
			best, bestDist = name, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	sort.Strings(names)
	return " (known keys: " + strings.Join(names, ", ") + ")"
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var yamlLineNumber = regexp.MustCompile(`line (\d+)`)

func yamlErrorLine(err error) int {
	m := yamlLineNumber.FindStringSubmatch(err.Error())
	if m == nil {
		return 1
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

func trimYAMLError(err error) string {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = strings.Join(te.Errors, "; ")
	}
	return yamlLinePrefix.ReplaceAllString(strings.TrimSpace(msg), "")
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}
