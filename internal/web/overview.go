package web

import (
	"net/http"

	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/session"
)

// overviewData is the home page: what needs attention, at a glance.
type overviewData struct {
	Queue    *queueData
	Pending  int
	Running  int
	Awaiting int
	Agents   int
	Verified *verifyStatus
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	d, err := s.overviewData(r, c)
	if err != nil {
		return err
	}
	return s.render(w, r, c, http.StatusOK, "overview", "Overview", "overview", d)
}

// overviewStats is the figures fragment the overview polls.
func (s *Server) overviewStats(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	d, err := s.overviewData(r, c)
	if err != nil {
		return err
	}
	return s.fragment(w, c, "overview_stats", d)
}

func (s *Server) overviewData(r *http.Request, c *reqCtx) (overviewData, error) {
	d := overviewData{}
	ctx := r.Context()
	if s.Approvals != nil {
		q, err := s.pendingQueue(r, c)
		if err != nil {
			return d, err
		}
		d.Pending = len(q.Pending)
		if len(q.Pending) > 5 {
			q.Pending = q.Pending[:5]
		}
		d.Queue = &q
	}
	if s.Sessions != nil {
		for _, st := range []session.Status{session.StatusActive, session.StatusAwaitingApproval} {
			list, err := s.Sessions.List(ctx, c.P.TenantID, session.Filter{Status: st, Limit: session.MaxListLimit})
			if err != nil {
				return d, err
			}
			if st == session.StatusActive {
				d.Running = len(list)
			} else {
				d.Awaiting = len(list)
			}
		}
	}
	if s.Agents != nil {
		list, err := s.Agents.List(ctx, c.P.TenantID, agent.Filter{Limit: agent.MaxListLimit})
		if err != nil {
			return d, err
		}
		d.Agents = len(list)
	}
	if s.Audit != nil {
		v := s.verify(ctx, c.P.TenantID, verifyTTL, verifyWait)
		d.Verified = &v
	}
	return d, nil
}
