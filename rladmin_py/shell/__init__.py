"""Where operators meet the tool: the prompt_toolkit shell, its pre-drawn prompt and its history."""
