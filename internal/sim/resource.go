package sim

import (
	"cmp"
	"encoding/json"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// Resource types of a session (github_repository, file, memory_store).
const (
	resourceGitHub      = "github_repository"
	resourceFile        = "file"
	resourceMemoryStore = "memory_store"
	prefixResource      = "sesrsc_"
)

// resource is one resource mounted in a session. The authorization token
// of a repository is write-only: kept to show it was given, never answered.
type resource struct {
	id        string
	seq       int64
	typ       string
	mountPath string
	createdAt time.Time
	updatedAt time.Time

	fileID        string
	url           string
	checkout      json.RawMessage
	token         string
	memoryStoreID string
	access        string
	instructions  *string
}

// resourceParam is the request form of a resource, already checked
// against the SDK's parameter types.
type resourceParam struct {
	Type               string          `json:"type"`
	FileID             string          `json:"file_id"`
	URL                string          `json:"url"`
	MountPath          *string         `json:"mount_path"`
	Checkout           json.RawMessage `json:"checkout"`
	AuthorizationToken string          `json:"authorization_token"`
	MemoryStoreID      string          `json:"memory_store_id"`
	Access             string          `json:"access"`
	Instructions       *string         `json:"instructions"`
}

// newResource builds a resource from its request form; i is its index in
// the request (resources[i]), -1 for the add endpoint. The type defaults
// to file, as the add endpoint's SDK type allows eliding it.
func (s *Server) newResource(i int, p resourceParam, now time.Time) (*resource, error) {
	field := func(name string) string {
		if i < 0 {
			return name
		}
		return "resources[" + strconv.Itoa(i) + "]." + name
	}
	r := &resource{id: newID(prefixResource), seq: s.nextSeq(), typ: cmp.Or(p.Type, resourceFile), createdAt: now, updatedAt: now}
	switch r.typ {
	case resourceFile:
		if !strings.HasPrefix(p.FileID, "file_") {
			return nil, invalid("%s: must be a file ID (file_…)", field("file_id"))
		}
		r.fileID, r.mountPath = p.FileID, "/mnt/session/uploads/"+p.FileID
	case resourceGitHub:
		if !strings.HasPrefix(p.URL, "https://github.com/") {
			return nil, invalid("%s: must be a https://github.com/ repository URL", field("url"))
		}
		r.url, r.checkout, r.token = p.URL, p.Checkout, p.AuthorizationToken
		r.mountPath = "/workspace/" + strings.TrimSuffix(path.Base(p.URL), ".git")
	case resourceMemoryStore:
		if !strings.HasPrefix(p.MemoryStoreID, "memstore_") {
			return nil, invalid("%s: must be a memory store ID (memstore_…)", field("memory_store_id"))
		}
		r.memoryStoreID, r.access, r.instructions = p.MemoryStoreID, cmp.Or(p.Access, "read_write"), p.Instructions
		r.mountPath = "/mnt/memory/" + strings.TrimPrefix(p.MemoryStoreID, "memstore_")
	}
	if p.MountPath != nil {
		if !strings.HasPrefix(*p.MountPath, "/") {
			return nil, invalid("%s: must be an absolute path", field("mount_path"))
		}
		r.mountPath = *p.MountPath
	}
	return r, nil
}

// wire is the resource's answer form, per the SDK's response types.
func (r *resource) wire() map[string]any {
	switch r.typ {
	case resourceGitHub:
		checkout := any(nil)
		if len(r.checkout) > 0 && !isNull(r.checkout) {
			checkout = r.checkout
		}
		return map[string]any{
			"type": r.typ, "id": r.id, "url": r.url, "mount_path": r.mountPath, "checkout": checkout,
			"created_at": r.createdAt, "updated_at": r.updatedAt,
		}
	case resourceMemoryStore:
		name := strings.TrimPrefix(r.memoryStoreID, "memstore_")
		return map[string]any{
			"type": r.typ, "memory_store_id": r.memoryStoreID, "access": r.access, "description": "",
			"instructions": r.instructions, "mount_path": r.mountPath, "name": name,
		}
	}
	return map[string]any{
		"type": r.typ, "id": r.id, "file_id": r.fileID, "mount_path": r.mountPath,
		"created_at": r.createdAt, "updated_at": r.updatedAt,
	}
}

func resourcesWire(rs []*resource) []map[string]any {
	out := make([]map[string]any, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.wire())
	}
	return out
}

// mountsMemoryStore reports whether the session has the memory store.
func (sess *session) mountsMemoryStore(id string) bool {
	return slices.ContainsFunc(sess.resources, func(r *resource) bool { return r.memoryStoreID == id })
}

// resource returns the session's resource with that ID. Memory stores are
// not addressable: the SDK gives them no ID.
func (sess *session) resource(id string) (*resource, error) {
	for _, r := range sess.resources {
		if r.id == id && r.typ != resourceMemoryStore {
			return r, nil
		}
	}
	return nil, notFound("Resource %s not found in session %s", id, sess.id)
}

// resourceAt finds the session resource a request's path names
// (session_id, resource_id); the caller holds s.mu.
func (s *Server) resourceAt(r *http.Request) (*resource, error) {
	sess, err := s.session(r.PathValue("session_id"))
	if err != nil {
		return nil, err
	}
	return sess.resource(r.PathValue("resource_id"))
}

func (s *Server) listResources(_ http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.session(r.PathValue("session_id"))
	if err != nil {
		return nil, err
	}
	// Without limit the list returns every resource (max 1000 a page).
	page, err := paginateLimits(sess.resources, func(r *resource) int64 { return r.seq }, q, false, false, maxResourcePageLimit, maxResourcePageLimit)
	if err != nil {
		return nil, err
	}
	return mapPage(page, (*resource).wire), nil
}

// maxResourcePageLimit is the largest page of the resources list.
const maxResourcePageLimit = 1000

// addResource adds a file to a running session (the only type the SDK's
// add endpoint takes).
func (s *Server) addResource(w http.ResponseWriter, r *http.Request) (any, error) {
	var p resourceParam
	if err := decodeParams[anthropic.BetaManagedAgentsFileResourceParams](w, r, &p); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.session(r.PathValue("session_id"))
	if err != nil {
		return nil, err
	}
	if sess.archivedAt != nil {
		return nil, conflict("Session %s is archived", sess.id)
	}
	res, err := s.newResource(-1, p, s.now())
	if err != nil {
		return nil, err
	}
	sess.resources = append(sess.resources, res)
	sess.updatedAt = res.createdAt
	return res.wire(), nil
}

// updateResource rotates a repository's authorization token.
func (s *Server) updateResource(w http.ResponseWriter, r *http.Request) (any, error) {
	var p struct {
		AuthorizationToken string `json:"authorization_token"`
	}
	if err := decodeParams[anthropic.BetaSessionResourceUpdateParams](w, r, &p); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.resourceAt(r)
	if err != nil {
		return nil, err
	}
	if res.typ != resourceGitHub {
		return nil, invalid("authorization_token: only a github_repository resource has one")
	}
	res.token, res.updatedAt = p.AuthorizationToken, s.now()
	return res.wire(), nil
}

func (s *Server) deleteResource(_ http.ResponseWriter, r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.session(r.PathValue("session_id"))
	if err != nil {
		return nil, err
	}
	res, err := sess.resource(r.PathValue("resource_id"))
	if err != nil {
		return nil, err
	}
	sess.resources = slices.DeleteFunc(sess.resources, func(x *resource) bool { return x == res })
	sess.updatedAt = s.now()
	return map[string]string{"id": res.id, "type": "session_resource_deleted"}, nil
}

// budgetAmount is the SDK's rule for a monetary amount: minor units as an
// integer decimal string with no leading zeros.
var budgetAmount = regexp.MustCompile(`^(0|[1-9][0-9]{0,17})$`)

// checkBudget applies the rules of a budget the SDK's types cannot say;
// the shape is already checked.
func checkBudget(raw json.RawMessage) error {
	if len(raw) == 0 || isNull(raw) {
		return nil
	}
	var b struct {
		MaxListCost struct {
			Amount string `json:"amount"`
		} `json:"max_list_cost"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return invalid("budget: %v", err)
	}
	if !budgetAmount.MatchString(b.MaxListCost.Amount) {
		return invalid("budget.max_list_cost.amount: must be an amount in minor units, an integer with no leading zeros (\"2500\" is $25.00), not %q", b.MaxListCost.Amount)
	}
	return nil
}

// normalizeBudget returns a budget in response form (type "limit" filled
// in when elided); null and absent stay as they are.
func normalizeBudget(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || isNull(raw) {
		return raw
	}
	var b map[string]any
	if json.Unmarshal(raw, &b) != nil {
		return raw
	}
	b["type"] = "limit"
	out, err := json.Marshal(b)
	if err != nil {
		return raw
	}
	return out
}
