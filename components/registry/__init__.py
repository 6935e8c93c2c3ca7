"""Registration, the promotion rule, reproduction and serving of registered versions."""
