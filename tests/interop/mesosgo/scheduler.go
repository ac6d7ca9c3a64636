// A Mesos framework scheduler written only against mesos-go's v1 client
// library (github.com/mesos/mesos-go/api/v1/lib), as any framework author
// would write it: nothing in it knows about tepui. tests/integration/
// test_interop.c runs it against a tepui master to show that an unmodified
// third-party Mesos client works.
//
// It subscribes (PARTITION_AWARE), launches -tasks command tasks plus one
// that fails and one long-running task from the offers it gets, declines
// what it does not use with a filter, and acknowledges every status update
// that carries a uuid. Once every task but the long-running one ended, it
// reconciles implicitly (only the long-running task may be named), then
// explicitly (a finished task and a task that never existed), kills the
// long-running task, and tears the framework down once every task reached
// the terminal state it expects. It prints a line for every event and every
// call it makes, and exits 0 after "DONE", or 1 after "FAIL <reason>".
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strings"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"
)

const (
	sleeperID = "sleeper"      // long-running, killed at the end
	failerID  = "failer"       // exits non-zero
	unknownID = "no-such-task" // reconciled, never launched
)

type task struct {
	id       string
	command  string
	expected mesos.TaskState
	launched bool
	agentID  string
	state    mesos.TaskState
	seen     bool
	done     bool
}

// declined is an offer declined with a filter: until it expires, the
// master must offer nothing of these resources on that agent again.
type declined struct {
	at        time.Time
	resources mesos.Resources
}

type sched struct {
	caller      calls.Caller
	frameworkID string
	tasks       map[string]*task
	order       []string
	refuse      time.Duration
	declined    map[string]declined // by agent id

	implicitSent     bool
	explicitSent     bool
	explicitTask     string
	explicitAnswered int
	killSent         bool
	done             bool
}

func main() {
	var (
		master  = flag.String("master", "http://127.0.0.1:5050/api/v1/scheduler", "the master's scheduler API endpoint")
		codec   = flag.String("codec", "json", "encoding: json or protobuf")
		ntasks  = flag.Int("tasks", 3, "number of command tasks that must finish")
		command = flag.String("command", "echo hello from mesos-go", "the command of those tasks")
		timeout = flag.Duration("timeout", 45*time.Second, "give up after this long")
		name    = flag.String("name", "mesos-go-interop", "framework name")
		refuse  = flag.Duration("refuse", 60*time.Second, "refuse_seconds of the filter on declined offers")
	)
	flag.Parse()

	if err := run(*master, *codec, *ntasks, *command, *timeout, *name, *refuse); err != nil {
		fmt.Printf("FAIL %v\n", err)
		os.Exit(1)
	}
	fmt.Println("DONE")
}

func run(endpoint, codecName string, ntasks int, command string, timeout time.Duration, name string, refuse time.Duration) error {
	var codec encoding.Codec
	switch codecName {
	case "json":
		codec = codecs.ByMediaType[codecs.MediaTypeJSON]
	case "protobuf":
		codec = codecs.ByMediaType[codecs.MediaTypeProtobuf]
	default:
		return fmt.Errorf("unknown codec %q", codecName)
	}

	cli := httpcli.New(
		httpcli.Endpoint(endpoint),
		httpcli.Codec(codec),
		httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second))),
	)
	s := &sched{
		caller:   httpsched.NewCaller(cli),
		tasks:    map[string]*task{},
		refuse:   refuse,
		declined: map[string]declined{},
	}
	for i := 0; i < ntasks; i++ {
		s.add(fmt.Sprintf("task-%d", i), command, mesos.TASK_FINISHED)
	}
	s.add(failerID, "exit 3", mesos.TASK_FAILED)
	s.add(sleeperID, "sleep 60", mesos.TASK_KILLED)

	u := os.Getenv("USER")
	if cur, err := user.Current(); err == nil {
		u = cur.Username
	}
	hostname, _ := os.Hostname()
	fi := &mesos.FrameworkInfo{
		User:     u,
		Name:     name,
		Hostname: &hostname,
		Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE},
		},
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	resp, err := s.caller.Call(ctx, calls.Subscribe(fi))
	if err != nil {
		return fmt.Errorf("subscribe: %v", err)
	}
	defer resp.Close()
	// Reads of the stream do not see the context: close it when time is up.
	go func() {
		<-ctx.Done()
		resp.Close()
	}()

	handler := events.HandlerFuncs{
		scheduler.Event_SUBSCRIBED: s.subscribed,
		scheduler.Event_OFFERS:     s.offers,
		scheduler.Event_UPDATE:     s.update,
		scheduler.Event_HEARTBEAT: func(context.Context, *scheduler.Event) error {
			fmt.Println("HEARTBEAT")
			return nil
		},
		scheduler.Event_RESCIND: func(_ context.Context, e *scheduler.Event) error {
			fmt.Printf("RESCIND %s\n", e.GetRescind().OfferID.Value)
			return nil
		},
		scheduler.Event_FAILURE: func(_ context.Context, e *scheduler.Event) error {
			f := e.GetFailure()
			fmt.Printf("FAILURE agent=%s executor=%s status=%d\n",
				f.GetAgentID().GetValue(), f.GetExecutorID().GetValue(), f.GetStatus())
			return nil
		},
		scheduler.Event_ERROR: func(_ context.Context, e *scheduler.Event) error {
			fmt.Printf("ERROR %s\n", e.GetError().Message)
			return fmt.Errorf("the master sent ERROR: %s", e.GetError().Message)
		},
	}.Otherwise(func(_ context.Context, e *scheduler.Event) error {
		fmt.Printf("%s\n", e.GetType())
		return nil
	})

	for !s.done {
		var e scheduler.Event
		if err := resp.Decode(&e); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("timed out after %v; %s", timeout, s.pending())
			}
			if err == io.EOF {
				return fmt.Errorf("the master closed the event stream; %s", s.pending())
			}
			return fmt.Errorf("decoding an event: %v", err)
		}
		if err := handler.HandleEvent(ctx, &e); err != nil {
			return err
		}
	}

	if err := s.send(ctx, &scheduler.Call{Type: scheduler.Call_TEARDOWN}); err != nil {
		return err
	}
	fmt.Println("TEARDOWN")
	return nil
}

func (s *sched) add(id, command string, expected mesos.TaskState) {
	s.tasks[id] = &task{id: id, command: command, expected: expected}
	s.order = append(s.order, id)
}

// send makes a call that answers no data (202), with the framework id that
// every call but SUBSCRIBE needs.
func (s *sched) send(ctx context.Context, c *scheduler.Call) error {
	c = c.With(calls.Framework(s.frameworkID))
	if err := calls.CallNoData(ctx, s.caller, c); err != nil {
		return fmt.Errorf("%s call: %v", c.GetType(), err)
	}
	return nil
}

func (s *sched) subscribed(_ context.Context, e *scheduler.Event) error {
	sub := e.GetSubscribed()
	s.frameworkID = sub.GetFrameworkID().GetValue()
	if s.frameworkID == "" {
		return fmt.Errorf("SUBSCRIBED without a framework id")
	}
	fmt.Printf("SUBSCRIBED %s heartbeat=%g\n", s.frameworkID, sub.GetHeartbeatIntervalSeconds())
	return nil
}

func (s *sched) offers(ctx context.Context, e *scheduler.Event) error {
	offers := e.GetOffers().GetOffers()
	fmt.Printf("OFFERS %d\n", len(offers))
	wants := mesos.Resources{
		resources.NewCPUs(0.1).Resource,
		resources.NewMemory(32).Resource,
	}
	for i := range offers {
		offer := &offers[i]
		remaining := mesos.Resources(offer.Resources)
		if d, ok := s.declined[offer.AgentID.Value]; ok && time.Since(d.at) < s.refuse &&
			resources.ContainsAll(resources.Flatten(d.resources), resources.Flatten(remaining)) {
			return fmt.Errorf("offer %s of agent %s holds only resources declined %.1fs ago for %v: %v",
				offer.ID.Value, offer.AgentID.Value, time.Since(d.at).Seconds(), s.refuse, remaining)
		}
		var infos []mesos.TaskInfo
		for _, id := range s.order {
			t := s.tasks[id]
			if t.launched {
				continue
			}
			if !resources.ContainsAll(resources.Flatten(remaining), wants) {
				break
			}
			found := resources.Find(wants, remaining...)
			if len(found) == 0 {
				break
			}
			infos = append(infos, mesos.TaskInfo{
				Name:      id,
				TaskID:    mesos.TaskID{Value: id},
				AgentID:   offer.AgentID,
				Resources: found,
				Command: &mesos.CommandInfo{
					Shell: proto.Bool(true),
					Value: proto.String(t.command),
				},
			})
			remaining.Subtract(found...)
			t.launched = true
			t.agentID = offer.AgentID.Value
		}
		if len(infos) == 0 {
			fmt.Printf("DECLINE %s refuse=%g\n", offer.ID.Value, s.refuse.Seconds())
			if err := s.send(ctx, calls.Decline(offer.ID).With(calls.RefuseSeconds(s.refuse))); err != nil {
				return err
			}
			s.declined[offer.AgentID.Value] = declined{time.Now(), remaining.Clone()}
			continue
		}
		names := make([]string, len(infos))
		for j := range infos {
			names[j] = infos[j].TaskID.Value
		}
		fmt.Printf("ACCEPT %s %s\n", offer.ID.Value, strings.Join(names, ","))
		accept := calls.Accept(calls.OfferOperations{calls.OpLaunch(infos...)}.WithOffers(offer.ID)).
			With(calls.RefuseSeconds(s.refuse))
		if err := s.send(ctx, accept); err != nil {
			return err
		}
	}
	return nil
}

func (s *sched) update(ctx context.Context, e *scheduler.Event) error {
	st := e.GetUpdate().GetStatus()
	id := st.TaskID.Value
	reason := ""
	if st.Reason != nil {
		reason = " " + st.Reason.String()
	}
	source := ""
	if st.Source != nil {
		source = " " + st.Source.String()
	}
	fmt.Printf("UPDATE %s %s%s%s\n", id, st.GetState(), reason, source)

	// Every update with a uuid is acknowledged (reconciliation answers
	// carry none, and must not be).
	if len(st.UUID) > 0 {
		ack := calls.Acknowledge(st.GetAgentID().GetValue(), id, st.UUID)
		if err := s.send(ctx, ack); err != nil {
			return err
		}
		fmt.Printf("ACKNOWLEDGE %s %s\n", id, st.GetState())
	}

	if st.GetReason() == mesos.REASON_RECONCILIATION {
		return s.reconciled(ctx, id, st)
	}

	t := s.tasks[id]
	if t == nil {
		return fmt.Errorf("an update for a task never launched: %s", id)
	}
	state := st.GetState()
	if t.done {
		return fmt.Errorf("an update for %s after its terminal one: %s", id, state)
	}
	t.state = state
	t.seen = true
	if isTerminal(state) {
		t.done = true
		if state != t.expected {
			msg := ""
			if st.Message != nil {
				msg = ": " + *st.Message
			}
			return fmt.Errorf("task %s ended %s, expected %s%s", id, state, t.expected, msg)
		}
		if id == sleeperID && !s.killSent {
			return fmt.Errorf("%s ended before it was killed", id)
		}
	}
	return s.step(ctx)
}

// step starts the reconciliations once every task but the sleeper ended
// (each terminal update acknowledged, so the master forgot those tasks) and
// the sleeper runs; it ends the run once the sleeper was killed.
func (s *sched) step(ctx context.Context) error {
	for _, t := range s.tasks {
		if t.id != sleeperID && !t.done {
			return nil
		}
	}
	sleeper := s.tasks[sleeperID]
	if sleeper.done {
		s.done = s.killSent && s.explicitAnswered == 2
		return nil
	}
	if sleeper.state == mesos.TASK_RUNNING && !s.implicitSent {
		s.implicitSent = true
		fmt.Println("RECONCILE implicit")
		return s.send(ctx, calls.Reconcile())
	}
	return nil
}

func (s *sched) reconciled(ctx context.Context, id string, st mesos.TaskStatus) error {
	if len(st.UUID) > 0 {
		return fmt.Errorf("the reconciliation answer for %s carries a uuid", id)
	}
	switch {
	case s.explicitSent && (id == s.explicitTask || id == unknownID):
		fmt.Printf("RECONCILED explicit %s %s\n", id, st.GetState())
		s.explicitAnswered++
		if s.explicitAnswered == 2 {
			fmt.Printf("KILL %s\n", sleeperID)
			s.killSent = true
			return s.send(ctx, calls.Kill(sleeperID, s.tasks[sleeperID].agentID))
		}
		return nil
	case s.implicitSent && !s.explicitSent:
		fmt.Printf("RECONCILED implicit %s %s\n", id, st.GetState())
		if id != sleeperID || st.GetState() != mesos.TASK_RUNNING {
			return fmt.Errorf("implicit reconciliation named %s %s, but only %s is still running",
				id, st.GetState(), sleeperID)
		}
		// Now explicitly: the first task that finished, and one that
		// never existed (no agent given).
		for _, tid := range s.order {
			if s.tasks[tid].expected == mesos.TASK_FINISHED {
				s.explicitTask = tid
				break
			}
		}
		s.explicitSent = true
		fmt.Printf("RECONCILE explicit %s %s\n", s.explicitTask, unknownID)
		return s.send(ctx, calls.Reconcile(calls.ReconcileTasks(map[string]string{
			s.explicitTask: s.tasks[s.explicitTask].agentID,
			unknownID:      "",
		})))
	}
	return fmt.Errorf("an unexpected reconciliation answer for %s: %s", id, st.GetState())
}

func (s *sched) pending() string {
	var left []string
	for _, id := range s.order {
		t := s.tasks[id]
		switch {
		case !t.launched:
			left = append(left, id+" (not launched)")
		case !t.seen:
			left = append(left, id+" (no update)")
		case !t.done:
			left = append(left, fmt.Sprintf("%s (%s)", id, t.state))
		}
	}
	sort.Strings(left)
	if s.explicitAnswered < 2 {
		left = append(left, fmt.Sprintf("explicit reconciliation (%d of 2 answers)", s.explicitAnswered))
	}
	return "waiting for: " + strings.Join(left, ", ")
}

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}
