package contracts

import "github.com/outlayer/outlayer/contracts/near"

// Project and version methods of the OutLayer contract (upstream HEAD's names).
const (
	MethodCreateProject    = "create_project"
	MethodAddVersion       = "add_version"
	MethodSetActiveVersion = "set_active_version"
	MethodRemoveVersion    = "remove_version"
	MethodDeleteProject    = "delete_project"
	MethodTransferProject  = "transfer_project"
	MethodGetProject       = "get_project"
	MethodListUserProjects = "list_user_projects"
	MethodGetVersion       = "get_version"
	MethodListVersions     = "list_versions"
	MethodGetVersionCount  = "get_version_count"
)

// Project events (standard near-outlayer). Upstream logs plain lines for
// these; the cluster follows the events. delete_project also logs
// upstream's system_event ProjectStorageCleanup.
const (
	EventProjectCreated              = "project_created"
	EventProjectVersionAdded         = "project_version_added"
	EventProjectActiveVersionChanged = "project_active_version_changed"
	EventProjectVersionRemoved       = "project_version_removed"
	EventProjectDeleted              = "project_deleted"
	EventProjectTransferred          = "project_transferred"
	EventSystem                      = "system_event"
)

// MaxProjectNameChars is the longest project name (in characters).
const MaxProjectNameChars = 64

// CreateProjectArgs are create_project's arguments. The caller becomes the
// owner of "<caller>/<Name>"; Source becomes the first, active version. The
// attached deposit must cover the storage the project and the version take
// (see DESIGN.md); the excess is refunded.
type CreateProjectArgs struct {
	Name   string     `json:"name"`
	Source CodeSource `json:"source"`
}

// AddVersionArgs are add_version's arguments (payable, like create_project).
type AddVersionArgs struct {
	ProjectName string     `json:"project_name"`
	Source      CodeSource `json:"source"`
	SetActive   bool       `json:"set_active"`
}

// ProjectVersionArgs name one version of the caller's project
// (set_active_version, remove_version).
type ProjectVersionArgs struct {
	ProjectName string `json:"project_name"`
	VersionKey  string `json:"version_key"`
}

// ProjectNameArgs name one of the caller's projects (delete_project).
type ProjectNameArgs struct {
	ProjectName string `json:"project_name"`
}

// TransferProjectArgs are transfer_project's arguments. The bytes the move
// adds (the new owner's index entry, a longer id) are paid from the
// attached deposit; bytes it frees are refunded to the old owner.
type TransferProjectArgs struct {
	ProjectName string `json:"project_name"`
	NewOwner    string `json:"new_owner"`
}

// ProjectIDArgs are get_project's and get_version_count's arguments.
type ProjectIDArgs struct {
	ProjectID string `json:"project_id"`
}

// GetVersionArgs are get_version's arguments.
type GetVersionArgs struct {
	ProjectID  string `json:"project_id"`
	VersionKey string `json:"version_key"`
}

// ListVersionsArgs page list_versions: FromIndex is a position in the
// project's versions (default 0), Limit defaults to 50 and is capped at 100.
type ListVersionsArgs struct {
	ProjectID string  `json:"project_id"`
	FromIndex *uint64 `json:"from_index,omitempty"`
	Limit     *uint64 `json:"limit,omitempty"`
}

// ListUserProjectsArgs are list_user_projects's arguments; without Limit
// every project comes back (upstream's behaviour), with it at most 100.
type ListUserProjectsArgs struct {
	AccountID string  `json:"account_id"`
	FromIndex *uint64 `json:"from_index,omitempty"`
	Limit     *uint64 `json:"limit,omitempty"`
}

// ProjectView is get_project's result. UUID ("p" + 16 hex digits) is
// issued by the contract and survives a transfer; StorageDeposit is all the
// yoctoNEAR held for the project and its versions.
type ProjectView struct {
	UUID           string    `json:"uuid"`
	Owner          string    `json:"owner"`
	Name           string    `json:"name"`
	ProjectID      string    `json:"project_id"`
	ActiveVersion  string    `json:"active_version"`
	CreatedAt      uint64    `json:"created_at"`
	StorageDeposit near.U128 `json:"storage_deposit"`
}

// VersionView is get_version's result. WasmHash holds the version key,
// which for a GitHub version is "<repo>@<commit>" (upstream's name).
type VersionView struct {
	WasmHash       string     `json:"wasm_hash"`
	Source         CodeSource `json:"source"`
	AddedAt        uint64     `json:"added_at"`
	IsActive       bool       `json:"is_active"`
	StorageDeposit near.U128  `json:"storage_deposit"`
}

// VersionKey is the key a source has as a project version: the lower-case
// wasm hash, or "<repo>@<commit>".
func (c CodeSource) VersionKey() string {
	switch {
	case c.WasmURL != nil:
		return c.WasmURL.Hash
	case c.GitHub != nil:
		return c.GitHub.Repo + "@" + c.GitHub.Commit
	}
	return ""
}

// ProjectEvent is the data of every project_* event; the fields that do not
// apply to an event are empty.
type ProjectEvent struct {
	ProjectID   string `json:"project_id"`
	ProjectUUID string `json:"project_uuid"`
	Owner       string `json:"owner"`
	// VersionKey: project_created, project_version_added,
	// project_active_version_changed, project_version_removed.
	VersionKey string `json:"version_key,omitempty"`
	// IsActive: project_version_added.
	IsActive bool `json:"is_active,omitempty"`
	// StorageDeposit: what the call kept (project_created, project_version_added).
	StorageDeposit *near.U128 `json:"storage_deposit,omitempty"`
	// Refunded: project_version_removed, project_deleted.
	Refunded *near.U128 `json:"refunded,omitempty"`
	// OldProjectID: project_transferred.
	OldProjectID string `json:"old_project_id,omitempty"`
}

// ProjectStorageCleanup is upstream's system_event variant logged by
// delete_project: {"ProjectStorageCleanup":{...}}.
type ProjectStorageCleanup struct {
	ProjectID   string `json:"project_id"`
	ProjectUUID string `json:"project_uuid"`
	Timestamp   uint64 `json:"timestamp"`
}
