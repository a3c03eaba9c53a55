"""Local stand-ins of the platforms' APIs (and of Rasa's REST channel), served over real HTTP."""
