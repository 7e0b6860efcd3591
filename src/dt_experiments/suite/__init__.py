"""The project's own D4RL-style offline dataset suite: behaviour-policy training (`behaviour`), numpy policies
(`policy`), batched rollouts (`rollout`) and the built-in dataset registrations (`datasets`)."""
