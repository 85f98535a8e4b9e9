package inventory

import (
	"os/user"
	"strconv"
)

// userNames caches uid → name lookups in the host's user database. Like
// pscap, it names container users by the host's database: a uid is a uid.
type userNames map[int]string

func newUserNames() userNames { return userNames{0: "root"} }

func (u userNames) name(uid int) string {
	if n, ok := u[uid]; ok {
		return n
	}
	n := strconv.Itoa(uid)
	if usr, err := user.LookupId(n); err == nil {
		n = usr.Username
	}
	u[uid] = n
	return n
}
