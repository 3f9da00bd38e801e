// Command mkzip writes a zip archive of the named files, each stored under -prefix with
// its base name and its permission bits (so the archive needs no zip tool on the build
// machine). Standard library only.
//
// Usage:
//
//	go run ./scripts/mkzip -o dist/app.zip -prefix "PIN Client/" file...
package main

import (
	"archive/zip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkzip:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkzip", flag.ContinueOnError)
	out := fs.String("o", "", "the zip file to write")
	prefix := fs.String("prefix", "", `folder inside the archive, e.g. "PIN Client/"`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return errors.New("missing -o or files; usage: mkzip -o out.zip [-prefix dir/] FILE [FILE ...]")
	}
	tmp := *out + ".tmp"
	if err := write(tmp, *prefix, fs.Args()); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, *out)
}

// write creates the archive at path from files.
func write(path, prefix string, files []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, name := range files {
		if err := add(zw, prefix, name); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func add(zw *zip.Writer, prefix, name string) error {
	src, err := os.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", name)
	}
	h, err := zip.FileInfoHeader(fi)
	if err != nil {
		return err
	}
	h.Name = prefix + filepath.Base(name)
	h.Method = zip.Deflate
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, src)
	return err
}
