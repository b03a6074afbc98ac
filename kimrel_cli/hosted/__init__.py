"""Client for the hosted kimrel.com API: requests, typed errors, rate and credit headers, retries."""
