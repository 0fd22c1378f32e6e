//! stamp: deploys one containerised application into many customer AWS accounts.
