"""The lab's AWS runtime adapters: the Lab from the stacks' environment (Lambda and the Batch job), the
step-handler shape and observability of the Lambdas, the admin actions and their signed client, clips in
the bucket, and Cost Explorer. The DynamoDB and S3 stores themselves are in aiv/store."""
