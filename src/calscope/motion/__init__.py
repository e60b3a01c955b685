"""Motion correction: rigid and piecewise-rigid registration of a (T, Y, X) movie by phase
correlation, chunk by chunk.

``register(movie)`` measures the motion (a `Registration`: shifts, template, per-frame
correlation, block shifts); ``apply_registration(frames, registration, start)`` or
``RegisteredMovie(movie, registration)`` undo it; ``registration_metrics`` says how much it
helped. Sign convention: ``shifts[t] = (dy, dx)`` moves the template's content to frame t,
``frame_t(y, x) ≈ template(y - dy, x - dx)``.
"""

from calscope.motion.lazy import RegisteredMovie
from calscope.motion.metrics import RegistrationMetrics, crispness, registration_metrics
from calscope.motion.register_movie import register
from calscope.motion.result import Registration, apply_registration

__all__ = ["RegisteredMovie", "Registration", "RegistrationMetrics", "apply_registration",
           "crispness", "register", "registration_metrics"]
