package main

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
)

// gatewayEnv lists every environment variable the gateway reads: the
// settings of Config and the vault's key provider.
func gatewayEnv() []string {
	var names []string
	for _, s := range (&Config{}).settings() {
		names = append(names, s.env)
	}
	return append(names, envKeyProvider, envPKCS11Module, envPKCS11Token, envPKCS11PIN, envPKCS11KeyLabel)
}

// TestEnvExampleDocumentsEverySetting checks that .env.example sets every
// variable the gateway reads, that its values are valid, and that the
// README's table lists each of them.
func TestEnvExampleDocumentsEverySetting(t *testing.T) {
	src, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf(".env.example: %q is not NAME=value", line)
			continue
		}
		if _, dup := vals[k]; dup {
			t.Errorf(".env.example sets %s twice", k)
		}
		vals[k] = v
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range gatewayEnv() {
		if _, ok := vals[name]; !ok {
			t.Errorf(".env.example does not set %s", name)
		}
		if !bytes.Contains(readme, []byte("| `"+name+"`")) && !bytes.Contains(readme, []byte("`"+name+"` /")) &&
			!bytes.Contains(readme, []byte("/ `"+name+"`")) {
			t.Errorf("the README's table does not list %s", name)
		}
	}
	fs := flag.NewFlagSet("env", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, _, err := LoadConfig(fs, nil, func(k string) string { return vals[k] }); err != nil {
		t.Errorf(".env.example does not load: %v", err)
	}
}
