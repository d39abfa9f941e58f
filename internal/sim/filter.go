package sim

import (
	"path"
	"strconv"
	"strings"
)

// filterSet is a parsed list of EC2 or Auto Scaling filters: every filter
// must match (AND), any of a filter's values may match (OR), and values may
// use the * and ? wildcards as EC2 allows.
type filterSet []struct {
	name   string
	values []string
}

func (fs filterSet) match(get func(name string) ([]string, bool)) (bool, *APIError) {
	for _, f := range fs {
		have, known := get(f.name)
		if !known {
			return false, apiErr("InvalidParameterValue", "The filter '%s' is invalid", f.name)
		}
		if !anyMatch(f.values, have) {
			return false, nil
		}
	}
	return true, nil
}

func anyMatch(patterns, have []string) bool {
	for _, p := range patterns {
		for _, h := range have {
			if ok, _ := path.Match(p, h); ok || p == h {
				return true
			}
		}
	}
	return false
}

// tagFilter answers tag:<key>, tag-key and tag-value.
func tagFilter(name string, t map[string]string) ([]string, bool) {
	switch {
	case strings.HasPrefix(name, "tag:"):
		if v, ok := t[strings.TrimPrefix(name, "tag:")]; ok {
			return []string{v}, true
		}
		return nil, true
	case name == "tag-key":
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		return keys, true
	case name == "tag-value":
		vals := make([]string, 0, len(t))
		for _, v := range t {
			vals = append(vals, v)
		}
		return vals, true
	}
	return nil, false
}

// page cuts items by a NextToken (an offset the engine issued) and a page
// size.
func page[T any](items []T, token *string, size int) ([]T, *string, *APIError) {
	start := 0
	if token != nil && *token != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(*token, "page-"))
		if err != nil || n < 0 || n > len(items) || !strings.HasPrefix(*token, "page-") {
			return nil, nil, apiErr("InvalidNextToken", "The token '%s' is invalid.", *token)
		}
		start = n
	}
	end := min(start+size, len(items))
	var next *string
	if end < len(items) {
		next = new("page-" + strconv.Itoa(end))
	}
	return items[start:end], next, nil
}
