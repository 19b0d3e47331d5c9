// Team configuration for slack-standup
module.exports = {
  repos: ["northwind-labs/api", "northwind-labs/web", "northwind-labs/infra"],
  slack: {
    channel: "C05RT8M2K4Q",
    botToken: process.env.SLACK_BOT_TOKEN || "xoxb-413673661345-4355558610930-r9P2JCOtn2MMgCuWmIZOL25s",
  },
  github: {
    token: process.env.GITHUB_TOKEN || "ghp_212dO8cVx8k6IXbTkad7AtfqBmePPBeYgijZ",
  },
  openai: {
    apiKey: process.env.OPENAI_API_KEY || "sk-proj-A4WbHprxhbjUi-PeHeWp1Ovc3QgiD86eXr48vHZwvi8tam4v77QF1p6dEOeYRT-NT3BlbkFJjgf6-VG5JJKQHHuoB7GrJi8CIbpV9ILuLFQOwsUaFsq6dLTncGOukXcdeF0WRgQU",
    model: "gpt-4o-mini",
  },
  timezone: "Europe/Amsterdam",
};
