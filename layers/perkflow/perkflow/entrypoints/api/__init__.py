"""The api function's routes, one router per capability; functions/api/app.py includes them all."""
