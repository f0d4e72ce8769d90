// envd's REST file routes: GET /files sends a file's bytes (gzip when asked),
// POST /files writes one or more files from multipart parts (each part's file name
// is its path) or from a raw body (`path=`, gzip allowed). Parents are made,
// files are replaced whole (written aside, then renamed), and the user named by
// `username=` owns what is made. With an access token, a request carries it or
// a signature of the path, operation, user and token.
package main

import (
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// restError answers {"code","message"} with an HTTP status, as envd's REST routes do.
func restError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]any{"code": status, "message": message})
}

func restStatus(err error) int {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return 404
	case errors.Is(err, os.ErrPermission):
		return 403
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return 507
	case errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENOTDIR):
		return 400
	}
	return 500
}

// signatureFor is the SDK's "v1_" + base64(sha256(path:operation:user:token[:expiration])), unpadded.
func signatureFor(path, operation, username, token, expiration string) string {
	raw := path + ":" + operation + ":" + username + ":" + token
	if expiration != "" {
		raw += ":" + expiration
	}
	sum := sha256.Sum256([]byte(raw))
	return "v1_" + strings.TrimRight(base64.StdEncoding.EncodeToString(sum[:]), "=")
}

func (s *server) filesAllowed(r *http.Request, operation string) bool {
	token := s.config.accessToken()
	if token == "" || s.tokenMatches(r) {
		return true
	}
	query := r.URL.Query()
	signature := query.Get("signature")
	if signature == "" {
		return false
	}
	expiration := query.Get("signature_expiration")
	if expiration != "" {
		seconds, err := strconv.ParseInt(expiration, 10, 64)
		if err != nil || time.Now().Unix() > seconds {
			return false
		}
	}
	want := signatureFor(query.Get("path"), operation, query.Get("username"), token, expiration)
	return subtle.ConstantTimeCompare([]byte(signature), []byte(want)) == 1
}

func (s *server) filesAccount(r *http.Request) (*account, error) {
	name := r.URL.Query().Get("username")
	if name == "" {
		name = s.config.user
	}
	return lookupAccount(name)
}

// filesCaller is who a /files request acts as, once it may (else it is answered).
func (s *server) filesCaller(w http.ResponseWriter, r *http.Request, operation string) *account {
	if !s.filesAllowed(r, operation) {
		restError(w, 401, "a valid access token or signature is required")
		return nil
	}
	acct, err := s.filesAccount(r)
	if err != nil {
		restError(w, 400, err.Error())
		return nil
	}
	return acct
}

func (s *server) getFile(w http.ResponseWriter, r *http.Request) {
	acct := s.filesCaller(w, r, "read")
	if acct == nil {
		return
	}
	path := acct.resolve(r.URL.Query().Get("path"))
	file, err := os.Open(path)
	if err != nil {
		restError(w, restStatus(err), path+": "+err.Error())
		return
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil || info.IsDir() {
		restError(w, 400, path+" is a directory")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		zipped := gzip.NewWriter(w)
		_, _ = io.Copy(zipped, file)
		_ = zipped.Close()
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size(), 10))
	_, _ = io.Copy(w, file)
}

type written struct {
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Path     string            `json:"path"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// writeFile replaces path with the bytes of body, through a file beside it.
func writeFile(acct *account, path string, body io.Reader, metadata map[string]string) (*written, error) {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return nil, &os.PathError{Op: "write", Path: path, Err: syscall.EISDIR}
	}
	if err := makeParents(acct, path); err != nil {
		return nil, err
	}
	temporary, err := os.CreateTemp(filepath.Dir(path), ".envd-upload-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(temporary.Name())
	mode := os.FileMode(0o644)
	if info, err := os.Stat(path); err == nil {
		mode = info.Mode().Perm()
	}
	_, err = io.Copy(temporary, body)
	if closeErr := temporary.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Chmod(temporary.Name(), mode)
	}
	if err == nil {
		acct.chownTo(temporary.Name())
		err = writeMetadata(temporary.Name(), metadata)
	}
	if err == nil {
		err = os.Rename(temporary.Name(), path)
	}
	if err != nil {
		return nil, err
	}
	return &written{Name: filepath.Base(path), Type: "file", Path: path, Metadata: readMetadata(path)}, nil
}

func uploadMetadata(r *http.Request) map[string]string {
	metadata := map[string]string{}
	for name, values := range r.Header {
		if key := strings.TrimPrefix(strings.ToLower(name), "x-metadata-"); key != strings.ToLower(name) && key != "" && len(values) > 0 {
			metadata[key] = values[0]
		}
	}
	return metadata
}

func (s *server) postFiles(w http.ResponseWriter, r *http.Request) {
	acct := s.filesCaller(w, r, "write")
	if acct == nil {
		return
	}
	metadata := uploadMetadata(r)
	query := r.URL.Query()
	var results []*written
	switch mediaType(r) {
	case "multipart/form-data":
		reader, err := r.MultipartReader()
		if err != nil {
			restError(w, 400, "a multipart body: "+err.Error())
			return
		}
		for {
			part, err := reader.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				restError(w, 400, "reading the multipart body: "+err.Error())
				return
			}
			target := partPath(part, query.Get("path"))
			if target == "" {
				continue
			}
			result, err := writeFile(acct, acct.resolve(target), part, metadata)
			if err != nil {
				restError(w, restStatus(err), err.Error())
				return
			}
			results = append(results, result)
		}
	case "application/octet-stream", "":
		if query.Get("path") == "" {
			restError(w, 400, "an octet-stream upload needs path=")
			return
		}
		var body io.Reader = r.Body
		switch r.Header.Get("Content-Encoding") {
		case "gzip":
			unzipped, err := gzip.NewReader(r.Body)
			if err != nil {
				restError(w, 400, "the body is not gzip: "+err.Error())
				return
			}
			body = unzipped
		case "", "identity":
		default:
			restError(w, 415, "Content-Encoding "+r.Header.Get("Content-Encoding")+" is not served")
			return
		}
		result, err := writeFile(acct, acct.resolve(query.Get("path")), body, metadata)
		if err != nil {
			restError(w, restStatus(err), err.Error())
			return
		}
		results = append(results, result)
	default:
		restError(w, 415, "uploads are multipart/form-data or application/octet-stream")
		return
	}
	if len(results) == 0 {
		restError(w, 400, "no file in the upload")
		return
	}
	writeJSON(w, 200, results)
}

// partPath is where a part goes: the path asked for, else the part's file name
// (read whole: multipart.Part.FileName would keep only its last element).
func partPath(part *multipart.Part, asked string) string {
	if part.FormName() != "file" {
		return ""
	}
	if asked != "" {
		return asked
	}
	_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	return params["filename"]
}
