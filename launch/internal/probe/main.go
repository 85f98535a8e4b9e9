//go:build linux

// Command probe is the launch tests' helper: a small static binary that
// reports, from inside, what the kernel gave the process it runs as. Tests
// run it under capdrop run (and as a set-user-ID copy) and check its output.
//
//	probe status       print /proc/self/status
//	probe bind PORT    listen on TCP PORT (all addresses); exit 0 if bound,
//	                   13 on EACCES, 1 otherwise
//	probe exit N       exit with status N
//	probe kill SIGNUM  kill itself with a signal
//	probe wait         print "ready PID", then exit 100+N on signal N
//	probe count        like wait, but first count for a second how many
//	                   times the signal arrives, and print "got SIG N"
//	probe fds          print the open descriptors and what they are, one per line
//	probe env          print the environment, one variable per line
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: probe status|bind PORT|exit N|kill SIGNUM|wait|fds|env")
	}
	switch os.Args[1] {
	case "status":
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			fail(err.Error())
		}
		os.Stdout.Write(b)
	case "bind":
		start, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
		ns, _ := os.Readlink("/proc/self/ns/net")
		fmt.Printf("ip_unprivileged_port_start=%s netns=%s\n", trim(start), ns)
		l, err := net.Listen("tcp", ":"+arg(2))
		if errors.Is(err, syscall.EACCES) {
			fmt.Println("denied:", err)
			os.Exit(13)
		} else if err != nil {
			fail(err.Error())
		}
		fmt.Println("bound", l.Addr())
		l.Close()
	case "exit":
		n, _ := strconv.Atoi(arg(2))
		os.Exit(n)
	case "kill":
		n, _ := strconv.Atoi(arg(2))
		signal.Reset()
		syscall.Kill(os.Getpid(), syscall.Signal(n))
		time.Sleep(10 * time.Second)
		fail("still alive")
	case "wait":
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGUSR2)
		fmt.Printf("ready %d\n", os.Getpid())
		select {
		case s := <-ch:
			fmt.Printf("got %v\n", s)
			os.Exit(100 + int(s.(syscall.Signal)))
		case <-time.After(60 * time.Second):
			fail("no signal within 60s")
		}
	case "count":
		ch := make(chan os.Signal, 16)
		signal.Notify(ch, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGUSR2)
		fmt.Printf("ready %d\n", os.Getpid())
		var first os.Signal
		select {
		case first = <-ch:
		case <-time.After(60 * time.Second):
			fail("no signal within 60s")
		}
		n := 1
		for deadline := time.After(time.Second); ; {
			select {
			case s := <-ch:
				if s == first {
					n++
				}
				continue
			case <-deadline:
			}
			break
		}
		fmt.Printf("got %v %d\n", first, n)
		os.Exit(100 + int(first.(syscall.Signal)))
	case "fds":
		for fd := 0; fd < 1024; fd++ {
			if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0); e == 0 {
				target, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
				fmt.Println(fd, target)
			}
		}
	case "env":
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
	default:
		fail("unknown mode " + os.Args[1])
	}
}

func arg(i int) string {
	if len(os.Args) <= i {
		fail("missing argument")
	}
	return os.Args[i]
}

func trim(b []byte) string {
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "probe:", msg)
	os.Exit(1)
}
