package runlabel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/workload"
)

// Engine is what JudgeImage asks of a container engine (engine.Client
// implements it).
type Engine interface {
	ImageInspect(ctx context.Context, ref string) (*engine.Image, error)
	ImageFiles(ctx context.Context, image string, paths []string, limit int64) (map[string][]byte, error)
}

// Judged is the image whose container the audit judged: the one the
// command names, which need not be the image the label came from.
type Judged struct {
	// Ref is the image as the command names it ("" when the command
	// names none capdrop can read).
	Ref string `json:"ref"`
	// ID is its ID on the engine; "" when the engine does not have it.
	ID string `json:"id"`
	// Present says whether the engine has it. An image that is not there
	// would be pulled by docker run: its USER is unknown, so the audit
	// judges the container as root.
	Present bool `json:"present"`
	// Labelled is true when it is the image the label was read from.
	Labelled bool `json:"labelled"`
	// User is its USER ("" is root, or unknown when not Present).
	User string `json:"user"`
	// Accounts says where user and group names were resolved, when the
	// container runs as a named user or group; "" when none was needed.
	Accounts string `json:"accounts"`
}

// accountFiles are read from the image to resolve names; their size is
// bounded like every other input.
var accountFiles = []string{"/etc/passwd", "/etc/group"}

// MaxAccountFile is the most capdrop reads of an image's passwd or group
// file.
const MaxAccountFile = 4 << 20

// JudgeImage makes the audit judge the image the command really runs,
// not the labelled one: it inspects that image on the engine (an image
// the engine does not have is judged as root, whoever the label's image
// runs as), takes its USER and io.containers.capabilities label, and, when
// the container runs as a user or group given by name, resolves the name
// in the image's own /etc/passwd and /etc/group, read through the engine
// without running the image (engine.Client.ImageFiles). A name the image
// does not define, or files that cannot be read, are judged as root.
// It does nothing for a command that starts no container.
func (c *Command) JudgeImage(ctx context.Context, e Engine) error {
	w := c.Workload
	if w == nil {
		return nil
	}
	j := Judged{Ref: w.Image}
	var img *engine.Image
	switch {
	case j.Ref == "":
	case j.Ref == c.Image.Ref || j.Ref == c.Image.ID:
		img = &engine.Image{ID: c.Image.ID, RepoTags: c.Image.RepoTags}
		img.Config.User, img.Config.Labels = c.Image.User, c.Image.Labels
	default:
		got, err := e.ImageInspect(ctx, j.Ref)
		switch {
		case errors.Is(err, engine.ErrNotFound):
		case err != nil:
			return fmt.Errorf("inspect image %s, which the command runs: %w", j.Ref, err)
		default:
			img = got
		}
	}
	w.ImageUser, w.ImageCaps, w.ImageAccounts = "", nil, nil
	if img == nil {
		why := fmt.Sprintf("image %s is not on the engine", Quote(j.Ref))
		if j.Ref == "" {
			why = "the command names no image capdrop can read"
		}
		w.ImageAccounts = &workload.Accounts{Source: why}
		w.Attrs["image_id"] = ""
		c.Judged = j
		return nil
	}
	j.ID, j.Present, j.User = img.ID, true, img.Config.User
	j.Labelled = img.ID == c.Image.ID
	w.ImageUser = img.Config.User
	w.ImageCaps = imageCaps(Image{Labels: img.Config.Labels})
	w.Attrs["image_id"] = img.ID
	if !j.Labelled {
		c.Notes = append(c.Notes, fmt.Sprintf("the command runs image %s, not the image the label came from: the audit judges %s", Quote(j.Ref), Quote(j.Ref)))
	}
	user := w.User
	if strings.TrimSpace(user) == "" {
		user = w.ImageUser
	}
	if needsAccounts(user) {
		src := "/etc/passwd and /etc/group of image " + shortID(img.ID)
		acc := &workload.Accounts{Users: map[string]int64{}, Groups: map[string]int64{}, Known: true, Source: src}
		files, err := e.ImageFiles(ctx, img.ID, accountFiles, MaxAccountFile)
		if err != nil {
			// Unreadable: every name stays unresolved, so root.
			acc.Source = fmt.Sprintf("image %s, whose account files capdrop could not read (%v)", shortID(img.ID), err)
		} else {
			acc.Users = parseAccounts(files["/etc/passwd"])
			acc.Groups = parseAccounts(files["/etc/group"])
		}
		w.ImageAccounts = acc
		j.Accounts = acc.Source
	}
	c.Judged = j
	return nil
}

// needsAccounts reports whether a user[:group] names a user or group
// (other than root) that only the image's account files resolve.
func needsAccounts(user string) bool {
	u, g, _ := strings.Cut(strings.TrimSpace(user), ":")
	name := func(s string) bool {
		_, err := strconv.ParseUint(s, 10, 32)
		return s != "" && err != nil
	}
	return (name(u) && u != "root") || name(g)
}

// parseAccounts reads passwd(5) or group(5) text into name → id the way
// the runtime's lookup (runc's libcontainer/user, which Docker uses) does:
// every non-empty line counts, fields are split on ":", an id that is not
// a number is 0, and the first line with a name wins. Reading a malformed
// line as the runtime does matters: "app:x:oops:0" runs as uid 0.
func parseAccounts(b []byte) map[string]int64 {
	out := map[string]int64{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		f := strings.Split(string(line), ":")
		if _, seen := out[f[0]]; seen {
			continue
		}
		var id int64
		if len(f) > 2 {
			n, err := strconv.Atoi(f[2])
			if err == nil {
				id = int64(n)
			}
		}
		out[f[0]] = id
	}
	return out
}
